"""Product lines held, first use of a line (the take-up label) and the features of a cut-off.

A transaction's line is its product category mapped with ``segmentation.product_lines``
(the mapping the preference types use, :mod:`segmentation.preference`); categories that map
to no line are not a line. For customer ``i`` and line ``l`` let ``f_il`` be the date of
the first transaction of line ``l``. At a cut-off ``c`` with horizon ``h``:

- ``i`` **holds** ``l`` when ``f_il <= c``;
- ``i`` **takes up** ``l`` when ``c < f_il <= c + h`` (label 1), for the customers who do
  not hold ``l`` at ``c``; holders are not in the line's population.

Features are what the customer table (:func:`features.split_at`) gives as of ``c`` --
recency, frequency, tenure, total value, value trend, product and channel value shares --
plus, per line, the value share (:func:`segmentation.preference.product_line_shares`), the
share of transaction rows and the days since the last use, all from rows dated on or before
``c`` (the outcome window ``(c, c + h]`` is never read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from churn.classifier import feature_matrix
from kequn.errors import UserError
from segmentation.preference import PRODUCT_LINES, product_line_shares


def check_lines(product_lines: Mapping[str, str]) -> tuple[str, ...]:
    """The lines that some category maps to, in :data:`PRODUCT_LINES` order.

    Raises :class:`UserError` naming the key when a value is not a known line or nothing is
    mapped.
    """
    product_lines = dict(product_lines or {})
    bad = {k: v for k, v in product_lines.items() if v not in PRODUCT_LINES}
    if bad:
        raise UserError(
            f"params.yaml: segmentation.product_lines values must be one of {PRODUCT_LINES}, "
            f"got {bad}"
        )
    lines = tuple(line for line in PRODUCT_LINES if line in product_lines.values())
    if not lines:
        raise UserError(
            "params.yaml: segmentation.product_lines is empty: the products stage needs the "
            "product categories mapped to lines"
        )
    return lines


def line_of(tx: pd.DataFrame, product_lines: Mapping[str, str]) -> pd.Series:
    """Each transaction's product line (``None`` for an unmapped category)."""
    if "product" not in tx.columns:
        raise UserError(
            "transactions: no product column; the products stage needs the extract's product "
            "category mapped (ingest.mapping columns.product)"
        )
    return tx["product"].astype("object").map(dict(product_lines)).astype("object")


def first_use(tx: pd.DataFrame, product_lines: Mapping[str, str]) -> pd.DataFrame:
    """Date of each customer's first transaction per line.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (every customer in ``tx``), one ``datetime64`` column per line
        of :func:`check_lines`; NaT where the customer never used the line.
    """
    lines = check_lines(product_lines)
    frame = pd.DataFrame(
        {
            "customer_id": tx["customer_id"].astype(str).to_numpy(),
            "date": pd.to_datetime(tx["date"]).to_numpy(),
            "line": line_of(tx, product_lines).to_numpy(),
        }
    )
    ids = pd.Index(sorted(frame["customer_id"].unique()), name="customer_id")
    mapped = frame.dropna(subset=["line"])
    wide = mapped.groupby(["customer_id", "line"])["date"].min().unstack("line")
    return wide.reindex(index=ids, columns=list(lines)).astype("datetime64[ns]")


def held_and_taken(
    first: pd.DataFrame, ids: pd.Series, cutoff: dt.date, horizon_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Who holds each line at ``cutoff`` and who takes it up in ``(cutoff, cutoff + h]``.

    Parameters
    ----------
    first
        :func:`first_use`.
    ids
        The customers (rows of the feature table at ``cutoff``), in order.
    cutoff, horizon_days
        The cut-off ``c`` and the horizon ``h``.

    Returns
    -------
    tuple of pandas.DataFrame
        ``held`` (``f_il <= c``) and ``taken`` (``c < f_il <= c + h``), booleans, one row per
        id in order and one column per line.
    """
    dates = first.reindex(pd.Index(ids.astype(str)))
    c = pd.Timestamp(cutoff)
    end = c + pd.Timedelta(days=int(horizon_days))
    held = dates.le(c) & dates.notna()
    taken = dates.gt(c) & dates.le(end) & dates.notna()
    return held.reset_index(drop=True), taken.reset_index(drop=True)


def line_activity(
    tx: pd.DataFrame, product_lines: Mapping[str, str], ids: pd.Series, cutoff: dt.date
) -> pd.DataFrame:
    """Per customer and line, from rows dated on or before ``cutoff``: ``count_share_<l>``
    (the line's share of the customer's mapped rows, 0 with none) and ``days_since_<l>``
    (days from the line's last row to ``cutoff``, NaN when never used)."""
    lines = check_lines(product_lines)
    dates = pd.to_datetime(tx["date"])
    keep = (dates <= pd.Timestamp(cutoff)).to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": tx["customer_id"].astype(str).to_numpy()[keep],
            "date": dates.to_numpy()[keep],
            "line": line_of(tx, product_lines).to_numpy()[keep],
        }
    ).dropna(subset=["line"])
    grouped = frame.groupby(["customer_id", "line"])["date"]
    counts = grouped.size().unstack("line").reindex(columns=list(lines)).fillna(0.0)
    last = grouped.max().unstack("line").reindex(columns=list(lines)).astype("datetime64[ns]")
    index = pd.Index(ids.astype(str))
    counts = counts.reindex(index).fillna(0.0)
    total = counts.sum(axis=1).to_numpy()
    out = pd.DataFrame(index=range(len(index)))
    for line in lines:
        n = counts[line].to_numpy()
        out[f"count_share_{line}"] = np.divide(n, total, out=np.zeros(len(n)), where=total > 0)
        days = (pd.Timestamp(cutoff) - last[line].reindex(index)).dt.days
        out[f"days_since_{line}"] = days.to_numpy(dtype=float)
    return out


def takeup_features(
    features: pd.DataFrame,
    tx: pd.DataFrame,
    product_lines: Mapping[str, str],
    cutoff: dt.date,
) -> pd.DataFrame:
    """The model inputs at ``cutoff``: the churn model's matrix of the customer table
    (:func:`churn.classifier.feature_matrix`: numeric features, shares, one-hot client type
    and channel), the line value shares ``value_share_<l>`` and :func:`line_activity`.

    ``features`` is the customer table as of ``cutoff``; ``tx`` may hold later rows (they are
    not read)."""
    lines = check_lines(product_lines)
    f = features.reset_index(drop=True)
    x = feature_matrix(f)
    shares = product_line_shares(f, dict(product_lines))
    for line in lines:
        x[f"value_share_{line}"] = shares[line].to_numpy()
    activity = line_activity(tx, product_lines, f["customer_id"], cutoff)
    return pd.concat([x, activity], axis=1)
