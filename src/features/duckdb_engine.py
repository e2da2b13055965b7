"""Customer features with DuckDB: the SQL of :mod:`features.sql` over a data frame or Parquet.

A Parquet path is scanned by DuckDB directly (``read_parquet``), so a large extract never
passes through pandas; only the per-customer results do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from features import sql
from features.assemble import assemble, assemble_holdout, check_dates, split_kinds
from kequn.errors import UserError

Transactions = pd.DataFrame | str | Path


def connect(transactions: Transactions) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory DuckDB connection with ``transactions`` as the relation ``sql.SOURCE``.

    Returns the connection and the source's column names; missing required columns, a
    missing or unreadable file -> :class:`UserError`.
    """
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if isinstance(transactions, pd.DataFrame):
        name = "transactions"
        con.register(sql.SOURCE, transactions)
    else:
        path = Path(transactions)
        name = str(path)
        if not path.exists():
            raise UserError(f"{path}: transaction file not found")
        quoted = str(path).replace("'", "''")
        try:
            con.execute(f"CREATE VIEW {sql.SOURCE} AS SELECT * FROM read_parquet('{quoted}')")
        except duckdb.Error as exc:
            raise UserError(f"{path}: cannot read as Parquet ({exc})") from None
    columns = list(con.sql(f"SELECT * FROM {sql.SOURCE} LIMIT 0").columns)
    missing = [c for c in sql.REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise UserError(f"{name}: missing column(s) {', '.join(missing)}")
    return con, columns


def _frame(con: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    return con.sql(query).to_arrow_table().to_pandas()


def date_range(transactions: Transactions) -> tuple[dt.date | None, dt.date | None, int]:
    """First and last transaction date and the number of rows (``None`` dates when empty)."""
    con, _ = connect(transactions)
    with con:
        ((first, last, n_rows),) = con.sql(sql.date_range_query()).fetchall()
    return first, last, int(n_rows)


def _features(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    as_of: dt.date,
    unit_days: float,
    trend_window_days: int,
    clients: pd.DataFrame | None,
) -> pd.DataFrame:
    customers = _frame(
        con, sql.customer_query(as_of, unit_days=unit_days, trend_window_days=trend_window_days)
    )
    kinds = tuple(column for column in ("product", "channel") if column in columns)
    long = None
    if kinds:
        query = sql.categories_query(kinds, as_of, trend_window_days=trend_window_days)
        long = con.sql(query).to_arrow_table()
    products, channels = split_kinds(long, kinds)
    return assemble(customers, products, channels, clients)


def _check_params(unit_days: float, trend_window_days: int) -> None:
    if not unit_days or unit_days <= 0:
        raise UserError(f"params.yaml: features.time_unit_days={unit_days!r} must be > 0")
    if int(trend_window_days) != trend_window_days or trend_window_days <= 0:
        raise UserError(
            f"params.yaml: features.trend_window_days={trend_window_days!r} "
            "must be a positive whole number of days"
        )


def _read_clients(clients: pd.DataFrame | str | Path | None) -> pd.DataFrame | None:
    if clients is None or isinstance(clients, pd.DataFrame):
        return clients
    return pd.read_parquet(clients)


def customer_features(
    transactions: Transactions,
    as_of: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: pd.DataFrame | str | Path | None = None,
) -> pd.DataFrame:
    """One row per customer with a transaction on or before ``as_of``, sorted by customer_id.

    BTYD summary (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
    same-day transactions count once; ``frequency`` x = distinct days - 1, ``recency``
    t_x = (last - first) / unit, ``T`` = (as_of - first) / unit with unit = ``unit_days``.
    ``monetary_value`` is the mean value of the repeat days (Fader & Hardie 2013, the
    Gamma-Gamma input), 0 when x = 0. Rows after ``as_of`` are never read. See
    ``docs/outputs.md`` for every column.
    """
    as_of = check_dates(as_of, "as_of")
    _check_params(unit_days, trend_window_days)
    con, columns = connect(transactions)
    with con:
        return _features(
            con, columns, as_of, unit_days, int(trend_window_days), _read_clients(clients)
        )


def split_at(
    transactions: Transactions,
    cutoff: dt.date,
    end: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: pd.DataFrame | str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibration features as of ``cutoff`` and what each customer did in ``(cutoff, end]``.

    Returns ``(calibration, holdout)``: ``calibration`` is
    ``customer_features(transactions, cutoff, ...)``; ``holdout`` has one row per
    calibration customer, in the same order, with ``holdout_transactions`` (distinct
    transaction days in the holdout) and ``holdout_value`` (sum of amount), zeros when none.
    Customers whose first transaction is after ``cutoff`` are not in either table.
    """
    cutoff = check_dates(cutoff, "cutoff")
    end = check_dates(end, "end")
    if end <= cutoff:
        raise UserError(f"holdout end {end} must be after the cutoff {cutoff}")
    _check_params(unit_days, trend_window_days)
    con, columns = connect(transactions)
    with con:
        calibration = _features(
            con, columns, cutoff, unit_days, int(trend_window_days), _read_clients(clients)
        )
        holdout = _frame(con, sql.holdout_query(cutoff, end))
    return calibration, assemble_holdout(calibration, holdout)
