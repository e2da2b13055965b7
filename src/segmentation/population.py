"""What the segment logic learns from the whole population, computed exactly in DuckDB.

Every function takes a DuckDB connection, ``source`` (what follows ``FROM``: a view, a
registered data frame or ``read_parquet('...')``) and a column; DuckDB sorts and windows
with its memory limit and spills beyond it, so only the fitted numbers come back to Python,
however many customers there are.

- :func:`value_cuts`: the value-tier cut-offs. Distinct positive values ``v`` with counts
  ``n_v``, sorted descending; ``S(v)`` = running sum of ``n_u u`` over ``u >= v`` and
  ``before(v) = S(previous u) / total`` = the share of positive value held by customers with
  strictly greater value (:func:`kequn.rules.share_before`). The strategic cut-off is the smallest
  ``v`` with ``before(v) < s_strategic - tol``, the value cut-off the smallest with
  ``before(v) < s_strategic + s_value - tol``; a customer's tier is then ``value >= cut``
  (``before`` never decreases as ``v`` falls). The same table gives the top-``k`` sums
  ``F(k) = S(before the group) + (k - n_before) v`` of the Pareto curve, the 80/20 figure
  and the top-20 % share (``value_tiers.pareto_curve``, ``concentration``,
  ``value_share_of_top``).
- :func:`score_bins`: RFM quintile bins, the tie-aware rule of :mod:`segmentation.rfm`
  run on the distinct values and their cumulative counts.
- :func:`asset_cuts`: asset-tier cut-offs for the quantile method: the smallest balance ``b``
  with ``(customers with a smaller balance) / (customers with a balance) >= q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from kequn import config
from kequn.rules import SHARE_TOL
from kequn.sql_text import identifier, literal
from segmentation.rfm import N_BINS, few_values_scores, greedy_bin_ends

DEFAULT_MEMORY_LIMIT = "1GB"
INF = float("inf")


def memory_limit() -> str:
    """DuckDB's memory budget for the segment stage (``KEQUN_SEGMENT_MEMORY_LIMIT``, 1GB)."""
    return config.memory_limit("KEQUN_SEGMENT_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)


def connect(temp_directory: str | None = None, limit: str | None = None):
    """A DuckDB connection with a memory limit, spilling to ``temp_directory``."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{limit or memory_limit()}'")
    if temp_directory:
        con.execute(f"SET temp_directory = {literal(temp_directory)}")
    return con


@dataclass
class ValueCuts:
    """Value-tier cut-offs and the Pareto figures of one value column (module doc)."""

    strategic: float  # value >= strategic -> strategic (inf: nobody)
    value: float  # value >= value -> value tier (when not strategic)
    total: float  # positive total
    n_positive: int
    concentration: float  # share of all customers making 80 % of positive value (NaN: none)
    top_share: float  # share of positive value of the top 20 % of customers (NaN: none)
    pareto: pd.DataFrame  # share_of_customers, share_of_value


def value_cuts(
    con,
    source: str,
    column: str,
    shares: tuple[float, float],
    n_customers: int,
    *,
    value_share: float = 0.8,
    customer_share: float = 0.2,
    max_points: int = 500,
) -> ValueCuts:
    """Cut-offs and Pareto figures of ``column`` over ``n_customers`` rows of ``source``."""
    strategic, value = shares
    col = identifier(column)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE value_groups AS
WITH g AS (
  SELECT v, count(*) AS n FROM (SELECT CAST({col} AS DOUBLE) AS v FROM {source})
  WHERE isfinite(v) AND v > 0 GROUP BY v
), w AS (
  SELECT v, n,
    SUM(n) OVER (ORDER BY v DESC ROWS UNBOUNDED PRECEDING) AS n_incl,
    SUM(n * v) OVER (ORDER BY v DESC ROWS UNBOUNDED PRECEDING) AS s_incl
  FROM g
)
SELECT v, n, n_incl - n AS n_before, n_incl, s_incl,
  COALESCE(LAG(s_incl) OVER (ORDER BY v DESC), 0.0) AS s_before
FROM w"""
    )
    row = con.execute("SELECT max(s_incl), max(n_incl) FROM value_groups").fetchall()[0]
    total = float(row[0] or 0.0)
    n_positive = int(row[1] or 0)

    def cut(share: float) -> float:
        if total <= 0:
            return INF
        (found,) = con.execute(
            "SELECT min(v) FROM value_groups WHERE s_before / $1 < $2", [total, share - SHARE_TOL]
        ).fetchall()[0]
        return INF if found is None else float(found)

    cut_strategic, cut_value = cut(strategic), cut(strategic + value)
    cut_value = min(cut_value, cut_strategic)

    def top_sums(ks: np.ndarray) -> np.ndarray:
        """``F(k)``: sum of the ``k`` largest positive values (``k`` beyond them: total)."""
        inside = ks[(ks > 0) & (ks <= n_positive)]
        out = np.where(ks > n_positive, total, 0.0)
        if len(inside):
            frame = pd.DataFrame({"k": inside.astype(np.int64)})
            con.register("wanted_ks", frame)
            got = con.execute(
                """SELECT k, s_before + (k - n_before) * v AS f FROM wanted_ks
JOIN value_groups ON k > n_before AND k <= n_incl ORDER BY k"""
            ).df()
            con.unregister("wanted_ks")
            out[(ks > 0) & (ks <= n_positive)] = got["f"].to_numpy("float64")
        return out

    n = int(n_customers)
    if n == 0 or total <= 0:
        concentration = top_share = float("nan")
    else:
        target = value_share * total * (1 - SHARE_TOL)
        found = con.execute(
            """SELECT n_before + GREATEST(LEAST(CAST(ceil(($1 - s_before) / v) AS BIGINT), n), 1)
FROM value_groups WHERE s_incl >= $1 ORDER BY v DESC LIMIT 1""",
            [target],
        ).fetchall()
        needed = n + 1 if not found else int(found[0][0])
        concentration = min(needed, n) / n
        top = int(np.floor(customer_share * n + SHARE_TOL))
        top_share = float(top_sums(np.array([top]))[0] / total)
    ks = np.unique(np.linspace(0, n, num=min(max_points, n + 1)).round().astype(np.int64))
    cumulative = top_sums(ks)
    share_of_value = cumulative / total if total > 0 else np.zeros(len(ks))
    pareto = pd.DataFrame(
        {"share_of_customers": ks / max(n, 1), "share_of_value": np.minimum(share_of_value, 1.0)}
    )
    con.execute("DROP TABLE value_groups")
    return ValueCuts(cut_strategic, cut_value, total, n_positive, concentration, top_share, pareto)


@dataclass
class ScoreBins:
    """Scores by value: ``score(x) = scores[i]`` for the first ``upper[i] >= x``."""

    upper: np.ndarray
    scores: np.ndarray

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Score per value (NaN counts as the worst value, as in :mod:`segmentation.rfm`)."""
        x = np.asarray(values, dtype="float64")
        x = np.where(np.isnan(x), -np.inf, x)
        if len(self.upper) == 0:
            return np.ones(len(x), dtype=np.int8)
        at = np.minimum(np.searchsorted(self.upper, x, side="left"), len(self.upper) - 1)
        return self.scores[at].astype(np.int8)


def score_bins(con, source: str, expression: str, n_bins: int = N_BINS) -> ScoreBins:
    """Tie-aware quintile bins of ``expression`` (SQL over ``source``; NULL/NaN = worst)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE score_values AS
WITH x AS (
  SELECT CASE WHEN r IS NULL OR isnan(r) THEN '-inf'::DOUBLE ELSE r + 0.0 END AS v
  FROM (SELECT CAST({expression} AS DOUBLE) AS r FROM {source})
), g AS (SELECT v, count(*) AS n FROM x GROUP BY v)
SELECT v, n, row_number() OVER (ORDER BY v) - 1 AS idx,
  SUM(n) OVER (ORDER BY v ROWS UNBOUNDED PRECEDING) AS cum
FROM g"""
    )
    m, n = con.execute("SELECT count(*), max(cum) FROM score_values").fetchall()[0]
    m, n = int(m), int(n or 0)
    if m == 0:
        bins = ScoreBins(np.array([]), np.array([], dtype=np.int64))
    elif m <= n_bins:
        got = con.execute("SELECT v, n FROM score_values ORDER BY v").df()
        scores = few_values_scores(got["n"].to_numpy(np.int64), n_bins)
        bins = ScoreBins(got["v"].to_numpy("float64"), scores)
    else:

        def first_at_least(target: float) -> int:
            (idx,) = con.execute(
                "SELECT min(idx) FROM score_values WHERE cum >= $1", [target]
            ).fetchall()[0]
            return int(idx)

        def cum_at(i: int) -> int:
            (c,) = con.execute("SELECT cum FROM score_values WHERE idx = $1", [i]).fetchall()[0]
            return int(c)

        ends = greedy_bin_ends(first_at_least, cum_at, n, m, n_bins)
        upper = [
            con.execute("SELECT v FROM score_values WHERE idx = $1", [int(e)]).fetchall()[0][0]
            for e in ends
        ]  # n_bins lookups
        bins = ScoreBins(np.array(upper, dtype="float64"), np.arange(1, n_bins + 1))
    con.execute("DROP TABLE score_values")
    return bins


def asset_cuts(
    con, source: str, column: str, large: float, medium: float
) -> tuple[float, float, int]:
    """``(large cut, medium cut, customers with a balance)`` for the quantile method; a cut
    is inf when nobody reaches it."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE balances AS
WITH g AS (
  SELECT b, count(*) AS n FROM (SELECT TRY_CAST({identifier(column)} AS DOUBLE) AS b FROM {source})
  WHERE isfinite(b) GROUP BY b
)
SELECT b, n, SUM(n) OVER (ORDER BY b ROWS UNBOUNDED PRECEDING) - n AS n_below FROM g"""
    )
    (total,) = con.execute("SELECT COALESCE(sum(n), 0) FROM balances").fetchall()[0]
    total = int(total)

    def cut(q: float) -> float:
        if total == 0:
            return INF
        (found,) = con.execute(
            "SELECT min(b) FROM balances WHERE n_below / $1 >= $2", [float(total), float(q)]
        ).fetchall()[0]
        return INF if found is None else float(found)

    out = (cut(large), cut(medium), total)
    con.execute("DROP TABLE balances")
    return out
