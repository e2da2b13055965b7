"""Product lines held, first use of a line (the take-up label) and the features of a cut-off.

A transaction's line is its product category mapped with ``segmentation.product_lines``
(the mapping the preference types use, :mod:`segmentation.preference`); categories that map
to no line are not a line. For customer ``i`` and line ``l`` let ``f_il`` be the date of
the first transaction of line ``l``. At a cut-off ``c`` with horizon ``h``:

- ``i`` **holds** ``l`` when ``f_il <= c``;
- ``i`` **takes up** ``l`` when ``c < f_il <= c + h`` (label 1), for the customers who do
  not hold ``l`` at ``c``; holders are not in the line's population.

Features are what the customer table (:func:`features.split_at`) gives as of ``c`` --
recency, frequency, tenure, total value, value trend, product and channel value shares,
client type (not the master's asset balance, a snapshot of the extract date) --
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


def _text_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``(codes, names)`` with ``names[codes[i]] == str(values[i])``: the text of each
    distinct value, computed once per distinct value rather than once per row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    text_codes, names = pd.factorize(pd.Index(uniques).astype(str))
    return text_codes[codes], pd.Index(names, dtype=object)


def line_rows(tx: pd.DataFrame, product_lines: Mapping[str, str]) -> pd.DataFrame:
    """The transactions whose category maps to a line: ``customer_id`` (categorical of the
    ids as text), ``date`` (datetime64), ``line`` (categorical, :func:`check_lines` order),
    ``product`` (categorical), ``amount`` (0 when absent).

    Built once per run and shared by :func:`first_use`, :func:`line_activity` and the take-up
    values; categorical columns keep one text per distinct id and category, not one per row.
    Raises :class:`UserError` when there is no product column, or when rows exist but none
    of their categories maps to a line.
    """
    lines = check_lines(product_lines)
    if "product" not in tx.columns:
        raise UserError(
            "transactions: no product column; the products stage needs the extract's product "
            "category mapped (ingest.mapping columns.product)"
        )
    product_codes, categories = pd.factorize(tx["product"])
    categories = pd.Index(categories).astype(object)
    line_of = pd.Series(categories).map(dict(product_lines))
    # the line's position per category, and -1 (no line) last for a missing category (-1)
    lookup = np.array([lines.index(v) if pd.notna(v) else -1 for v in line_of] + [-1])
    line_codes = lookup[product_codes]
    keep = line_codes >= 0
    if len(tx) and not keep.any():
        found = sorted({str(v) for v in categories})[:10]
        raise UserError(
            f"params.yaml: segmentation.product_lines: no product category in the data "
            f"({', '.join(found)}) maps to a line"
        )
    id_codes, ids = _text_codes(tx["customer_id"])
    amount = tx["amount"] if "amount" in tx.columns else pd.Series(0.0, index=tx.index)
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(id_codes[keep], categories=ids),
            "date": pd.to_datetime(tx["date"]).to_numpy(dtype="datetime64[ns]")[keep],
            "line": pd.Categorical.from_codes(line_codes[keep], categories=list(lines)),
            "product": pd.Categorical.from_codes(product_codes[keep], categories=categories),
            "amount": amount.to_numpy(dtype=float)[keep],
        }
    )


def _keys(rows: pd.DataFrame, lines: tuple[str, ...]) -> tuple[np.ndarray, pd.Index]:
    """``(key, customers)``: per row of :func:`line_rows`, ``customer * len(lines) + line``
    with ``customer`` the position of its id in ``customers`` and ``line`` in ``lines``."""
    customer = rows["customer_id"].astype("category")
    line = pd.Categorical(rows["line"], categories=list(lines)).codes.astype(np.int64)
    codes = customer.cat.codes.to_numpy().astype(np.int64)
    return codes * len(lines) + line, pd.Index(customer.cat.categories)


def _dates_by_key(
    key: np.ndarray, dates: np.ndarray, size: int, reduce: np.ufunc, empty: int
) -> np.ndarray:
    """``reduce`` (``np.minimum`` or ``np.maximum``) of the ``datetime64[ns]`` ``dates`` per
    ``key`` in ``range(size)``, NaT dates skipped; NaT where a key has none."""
    known = ~np.isnat(dates)
    out = np.full(size, empty, dtype=np.int64)
    reduce.at(out, key[known], dates[known].astype(np.int64))
    out[out == empty] = np.iinfo(np.int64).min  # NaT
    return out.view("datetime64[ns]")


def first_use(rows: pd.DataFrame, lines: tuple[str, ...], ids: pd.Series) -> pd.DataFrame:
    """Date of each customer's first transaction per line.

    Parameters
    ----------
    rows
        :func:`line_rows`.
    lines
        :func:`check_lines`.
    ids
        The customers (every customer with a transaction, mapped or not).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (``ids``, sorted and unique), one ``datetime64`` column per
        line; NaT where the customer never used the line.
    """
    index = pd.Index(sorted(set(pd.Index(pd.unique(ids)).astype(str))), name="customer_id")
    key, customers = _keys(rows, lines)
    size = len(customers) * len(lines)
    first = _dates_by_key(key, rows["date"].to_numpy(), size, np.minimum, np.iinfo(np.int64).max)
    wide = pd.DataFrame(first.reshape(len(customers), len(lines)), index=customers, columns=lines)
    return wide.reindex(index=index).astype("datetime64[ns]")


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
    rows: pd.DataFrame, lines: tuple[str, ...], ids: pd.Series, cutoff: dt.date
) -> pd.DataFrame:
    """Per customer and line, from :func:`line_rows` dated on or before ``cutoff``:
    ``count_share_<l>`` (the line's share of the customer's mapped rows, 0 with none) and
    ``days_since_<l>`` (days from the line's last row to ``cutoff``, NaN when never used)."""
    dates = rows["date"].to_numpy()
    before = dates <= np.datetime64(cutoff, "ns")
    key, customers = _keys(rows, lines)
    size = len(customers) * len(lines)
    shape = (len(customers), len(lines))
    counts = np.bincount(key[before], minlength=size).astype(float).reshape(shape)
    last = _dates_by_key(key[before], dates[before], size, np.maximum, np.iinfo(np.int64).min)
    last = last.reshape(shape)
    # each id's row of the per-customer arrays; -1 (no mapped row) reads as none
    where = customers.get_indexer(pd.Index(ids.astype(str)))
    found = where >= 0
    counts = np.where(found[:, None], counts[where], 0.0)
    last = np.where(found[:, None], last[where], np.datetime64("NaT", "ns"))
    total = counts.sum(axis=1)
    out = pd.DataFrame(index=range(len(where)))
    day_ns = np.timedelta64(1, "D").astype("timedelta64[ns]").astype(np.int64)
    cut_ns = np.datetime64(cutoff, "ns").astype(np.int64)
    for j, line in enumerate(lines):
        n = counts[:, j]
        out[f"count_share_{line}"] = np.divide(n, total, out=np.zeros(len(n)), where=total > 0)
        never = np.isnat(last[:, j])
        since = (cut_ns - last[:, j].astype(np.int64)) // day_ns
        out[f"days_since_{line}"] = np.where(never, np.nan, since.astype(float))
    return out


def takeup_features(
    features: pd.DataFrame,
    rows: pd.DataFrame,
    product_lines: Mapping[str, str],
    cutoff: dt.date,
) -> pd.DataFrame:
    """The model inputs at ``cutoff``: the churn model's matrix of the customer table
    (:func:`churn.classifier.feature_matrix`: numeric features, shares, one-hot client type
    and channel), the line value shares ``value_share_<l>`` and :func:`line_activity`.

    ``features`` is the customer table as of ``cutoff``; ``rows`` (:func:`line_rows`) may
    hold later rows (they are not read)."""
    lines = check_lines(product_lines)
    f = features.reset_index(drop=True)
    # the client master's asset balance is a snapshot of the extract date, not of the
    # cut-off: it would leak the future into a backtest
    x = feature_matrix(f).drop(columns=["asset_balance"], errors="ignore")
    shares = product_line_shares(f, dict(product_lines))
    for line in lines:
        x[f"value_share_{line}"] = shares[line].to_numpy()
    activity = line_activity(rows, lines, f["customer_id"], cutoff)
    return pd.concat([x, activity], axis=1)
