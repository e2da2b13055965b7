"""Customer features with DuckDB: the SQL of :mod:`features.sql` over a data frame or Parquet.

A Parquet path is scanned by DuckDB directly (``read_parquet``), so a large extract never
passes through pandas. The whole customer table -- numeric features, category shares,
main channels and the client-master join -- is one query, which the stage writes straight
to Parquet (:func:`write_customer_features`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import duckdb

from features import common, sql
from features.common import (
    check_dates,
    check_holdout,
    check_params,
    check_unique_clients,
    holdout_table,
    is_frame,
)
from features.signals import (
    BALANCES,
    EVENTS,
    Source,
    duckdb_views,
    joined_signals_query,
    present,
)
from kequn.errors import UserError
from kequn.io import atomic_path
from kequn.sql_text import literal, parquet_source

if TYPE_CHECKING:
    import pandas as pd

Transactions: TypeAlias = "pd.DataFrame | str | Path"
Clients: TypeAlias = "pd.DataFrame | str | Path | None"


def connect(transactions: Transactions) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory DuckDB connection with ``transactions`` as the relation ``sql.SOURCE``.

    Returns the connection and the source's column names; missing required columns, a
    missing or unreadable file -> :class:`UserError`.
    """
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if is_frame(transactions):
        name = "transactions"
        con.register(sql.SOURCE, transactions)
    else:
        path = Path(transactions)
        name = str(path)
        if not path.exists():
            raise UserError(f"{path}: transaction file not found")
        try:
            con.execute(f"CREATE VIEW {sql.SOURCE} AS SELECT * FROM {parquet_source(path)}")
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


def register_clients(con: duckdb.DuckDBPyConnection, clients: Transactions) -> list:
    """Make the client master (a frame or a Parquet path) the relation
    :data:`features.sql.CLIENTS`, checked to hold one row per ``customer_id`` (compared as
    text); returns its column names."""
    name = "clients"
    if is_frame(clients):
        if "customer_id" not in clients.columns:
            raise UserError("clients: missing column 'customer_id'")
        con.register(sql.CLIENTS, clients.assign(customer_id=clients["customer_id"].astype(str)))
    else:
        name = str(clients)
        try:
            con.execute(f"CREATE VIEW {sql.CLIENTS} AS SELECT * FROM {parquet_source(clients)}")
        except duckdb.Error as exc:
            raise UserError(f"{clients}: cannot read as Parquet ({exc})") from None
    columns = list(con.sql(f"SELECT * FROM {sql.CLIENTS} LIMIT 0").columns)
    if "customer_id" not in columns:
        raise UserError(f"{name}: missing column 'customer_id'")
    check_unique_clients(con.sql(sql.duplicate_clients_query()).fetchall())
    return columns


def customer_table_query(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    as_of: dt.date,
    unit_days: float,
    trend_window_days: int,
    clients: Clients,
) -> str:
    """:func:`features.common.customer_table_query` on this connection, the client master
    registered first."""
    client_columns = None if clients is None else register_clients(con, clients)
    return common.customer_table_query(
        lambda query: con.sql(query).fetchall(),
        columns,
        as_of,
        unit_days,
        trend_window_days,
        client_columns,
    )


def customer_features(
    transactions: Transactions,
    as_of: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: Clients = None,
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
    check_params(unit_days, trend_window_days)
    con, columns = connect(transactions)
    with con:
        query = customer_table_query(con, columns, as_of, unit_days, trend_window_days, clients)
        return _frame(con, query)


def write_customer_features(
    target: str | Path,
    transactions: Transactions,
    as_of: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: Clients = None,
    balances: Source = None,
    events: Source = None,
) -> dict[str, int]:
    """Write :func:`customer_features` to the Parquet file ``target`` (atomically), straight
    from DuckDB; returns the number of ``customers`` and of ``repeat_customers`` (x > 0).

    ``balances`` / ``events`` (frames or Parquet paths; None or empty: not configured): the
    balance and event features (:mod:`features.signals`) are joined in the same query
    (:func:`features.signals.joined_signals_query`), so the file is written once."""
    as_of = check_dates(as_of, "as_of")
    check_params(unit_days, trend_window_days)
    con, columns = connect(transactions)
    with con, atomic_path(target) as tmp:
        query = customer_table_query(con, columns, as_of, unit_days, trend_window_days, clients)
        sources = {n: s for n, s in ((BALANCES, balances), (EVENTS, events)) if present(s)}
        if sources:
            views = duckdb_views(con, sources)
            query, _ = joined_signals_query(
                query, lambda q: con.execute(q).df(), as_of, views.get(BALANCES), views.get(EVENTS)
            )
        con.execute(f"COPY ({query}) TO {literal(tmp)} (FORMAT parquet)")
        ((customers, repeat),) = con.sql(
            f"SELECT COUNT(*), COUNT(CASE WHEN frequency > 0 THEN 1 END) FROM {parquet_source(tmp)}"
        ).fetchall()
    return {"customers": int(customers), "repeat_customers": int(repeat)}


def split_at(
    transactions: Transactions,
    cutoff: dt.date,
    end: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: Clients = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibration features as of ``cutoff`` and what each customer did in ``(cutoff, end]``.

    Returns ``(calibration, holdout)``: ``calibration`` is
    ``customer_features(transactions, cutoff, ...)``; ``holdout`` has one row per
    calibration customer, in the same order, with ``holdout_transactions`` (distinct
    transaction days in the holdout) and ``holdout_value`` (sum of amount), zeros when none.
    Customers whose first transaction is after ``cutoff`` are not in either table.
    """
    cutoff, end = check_holdout(cutoff, end)
    check_params(unit_days, trend_window_days)
    con, columns = connect(transactions)
    with con:
        query = customer_table_query(con, columns, cutoff, unit_days, trend_window_days, clients)
        calibration = _frame(con, query)
        holdout = _frame(con, sql.holdout_query(cutoff, end))
    return calibration, holdout_table(calibration, holdout)
