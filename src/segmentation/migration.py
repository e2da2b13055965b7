"""Tier migration between runs (升降级): who moved up or down the value tiers.

The baseline is the previous run's ``segments.parquet`` (the latest one kept under
``data/history/<as_of>/`` with an earlier ``as_of``), or, when no run is kept, the tiers as
of ``as_of - segmentation.review_months`` computed from the transactions with the
*historic* value basis (total value to that date; predicted CLV as of a past date is not
kept).

Tier order: strategic > value > basic. ``tier_change`` is ``upgrade`` / ``downgrade`` /
``same``, or ``new`` for a customer absent from the baseline (``previous_value_tier`` is
then missing). Customers in the baseline but no longer in the data are counted as
``departed``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from features import sql
from features.duckdb_engine import connect
from kequn.sql_text import literal, parquet_source
from segmentation.population import value_cuts
from segmentation.value_tiers import TIERS

TIER_RANK = {"strategic": 3, "value": 2, "basic": 1}
CHANGES = ("upgrade", "downgrade", "same", "new")


def latest_previous_run(history_dir: str | Path, as_of: dt.date) -> tuple[dt.date, Path] | None:
    """``(date, path)`` of the latest ``<history_dir>/<YYYY-MM-DD>/segments.parquet`` before
    ``as_of``; None when there is none. Folders whose name is not a date are ignored."""
    history_dir = Path(history_dir)
    if not history_dir.is_dir():
        return None
    found = []
    for folder in history_dir.iterdir():  # one folder per kept run
        try:
            date = dt.date.fromisoformat(folder.name)
        except ValueError:
            continue
        if date < as_of and (folder / "segments.parquet").is_file():
            found.append((date, folder / "segments.parquet"))
    return max(found) if found else None


def historic_values(transactions: pd.DataFrame | str | Path, date: dt.date) -> pd.DataFrame:
    """``customer_id`` and ``total_value`` as of ``date``: the review baseline's value basis.

    The same ``total_value`` (and the same customers, sorted by id) as
    ``features.customer_features(transactions, date)`` -- the features stage's own row
    cleaning (``features.sql.clean_rows``: typed rows dated on or before ``date``, money
    summed exactly as DECIMAL) summed per customer -- without computing every other feature
    (about ten times faster on the sample). ``transactions``: a data frame or a Parquet path.
    """
    con, _ = connect(transactions)
    with con:
        return con.sql(
            f"""WITH {sql.clean_rows(date)}
SELECT customer_id, CAST(SUM(amount) AS DOUBLE) AS total_value
FROM tx
GROUP BY customer_id
ORDER BY customer_id"""
        ).df()


def tier_migration(
    current: pd.DataFrame, previous: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Compare value tiers with a baseline.

    ``current`` and ``previous`` have ``customer_id`` and ``value_tier``. Returns
    ``(changes, matrix, counts)``: ``changes`` has ``previous_value_tier`` and
    ``tier_change`` aligned with ``current``'s rows; ``matrix`` counts customers by baseline
    tier (rows, plus ``new``) and current tier (columns); ``counts`` has the number of each
    change and of departed customers.
    """
    baseline = previous.drop_duplicates("customer_id").set_index("customer_id")["value_tier"]
    before = current["customer_id"].map(baseline)
    rank_now = current["value_tier"].map(TIER_RANK).to_numpy("float64")
    rank_before = before.map(TIER_RANK).to_numpy("float64")
    change = np.select(
        [np.isnan(rank_before), rank_now > rank_before, rank_now < rank_before],
        ["new", "upgrade", "downgrade"],
        default="same",
    )
    changes = pd.DataFrame(
        {
            "previous_value_tier": before.astype("string").to_numpy(),
            "tier_change": change.astype(object),
        },
        index=current.index,
    )
    rows = pd.Categorical(before.fillna("new"), categories=[*TIERS, "new"])
    cols = pd.Categorical(current["value_tier"], categories=list(TIERS))
    matrix = pd.crosstab(rows, cols, dropna=False).reindex(
        index=[*TIERS, "new"], columns=list(TIERS), fill_value=0
    )
    matrix.index.name, matrix.columns.name = "previous_value_tier", "value_tier"
    counts = {c: int((change == c).sum()) for c in CHANGES}
    counts["departed"] = int((~baseline.index.isin(current["customer_id"])).sum())
    return changes, matrix, counts


def matrix_to_dict(matrix: pd.DataFrame) -> dict:
    """``{previous_tier: {current_tier: n}}`` for the metrics file."""
    return {
        str(row): {str(col): int(matrix.loc[row, col]) for col in matrix.columns}
        for row in matrix.index
    }


def _literal(x: float) -> str:
    return f"CAST('{float(x)!r}' AS DOUBLE)"


def write_review_baseline(
    con, transactions: str | Path, date: dt.date, shares: tuple[float, float], target: Path
) -> int:
    """Write ``customer_id``, ``value_tier`` as of ``date`` (historic value basis, the value
    tiers' rule) to the Parquet file ``target``, sorted by customer_id, all inside DuckDB
    (``con``: a connection with a memory limit). Returns the number of customers."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {sql.SOURCE} AS SELECT * FROM {parquet_source(transactions)}"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE historic AS
WITH {sql.clean_rows(date)}
SELECT customer_id, CAST(SUM(amount) AS DOUBLE) AS total_value FROM tx GROUP BY customer_id"""
    )
    (n,) = con.execute("SELECT count(*) FROM historic").fetchall()[0]
    cuts = value_cuts(con, "historic", "total_value", shares, int(n))
    positive = "isfinite(total_value) AND total_value > 0"
    con.execute(
        f"""COPY (
  SELECT customer_id, CASE
    WHEN {positive} AND total_value >= {_literal(cuts.strategic)} THEN 'strategic'
    WHEN {positive} AND total_value >= {_literal(cuts.value)} THEN 'value'
    ELSE 'basic' END AS value_tier
  FROM historic ORDER BY customer_id
) TO {literal(target)} (FORMAT parquet)"""
    )
    con.execute("DROP TABLE historic")
    return int(n)
