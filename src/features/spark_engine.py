"""Customer features on Apache Spark: the SQL of :mod:`features.sql`, translated.

The same queries as the DuckDB engine (DuckDB dialect) run on Spark after
:func:`kequn.spark.to_spark_sql`; the customer table -- one row per customer -- comes back
to the driver. Only the sources differ: a Parquet path (local or any URI the session
reads, e.g. ``hdfs://``/``s3a://``) or a pandas frame becomes the temporary view
``transactions`` (and ``clients`` for the client master).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from features import common, sql
from features.common import (
    check_dates,
    check_holdout,
    check_params,
    check_unique_clients,
    holdout_table,
)
from features.signals import Source, add_signals_to_file
from kequn.errors import UserError
from kequn.io import write_parquet
from kequn.spark import get_session, to_spark_sql

Transactions = pd.DataFrame | str | Path
Clients = pd.DataFrame | str | Path | None


def _uri(path: str | Path) -> str:
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def _read(source: pd.DataFrame | str | Path, spark, view: str, required: tuple) -> list[str]:
    """Make ``source`` (a frame or a Parquet path/URI) the Spark view ``view`` (``transactions``
    or ``clients``); its columns."""
    if isinstance(source, pd.DataFrame):
        name = view
        frame = spark.createDataFrame(source)
    else:
        name = str(source)
        if "://" not in name and not Path(name).exists():
            raise UserError(f"{name}: {view.rstrip('s')} file not found")
        try:
            frame = spark.read.parquet(_uri(source))
        except Exception as exc:  # AnalysisException and friends
            raise UserError(
                f"{name}: cannot read as Parquet ({str(exc).splitlines()[0]})"
            ) from None
    frame.createOrReplaceTempView(view)
    columns = list(frame.columns)
    missing = [c for c in required if c not in columns]
    if missing:
        raise UserError(f"{name}: missing column(s) {', '.join(missing)}")
    return columns


def register(transactions: Transactions, spark) -> list[str]:
    """Make ``transactions`` the Spark view ``sql.SOURCE``; return its column names."""
    return _read(transactions, spark, sql.SOURCE, sql.REQUIRED_COLUMNS)


def register_clients(clients: pd.DataFrame | str | Path, spark) -> list[str]:
    """Make the client master the Spark view ``sql.CLIENTS`` (checked to hold one row per
    ``customer_id``); return its column names."""
    if isinstance(clients, pd.DataFrame) and "customer_id" in clients.columns:
        clients = clients.assign(customer_id=clients["customer_id"].astype(str))
    columns = _read(clients, spark, sql.CLIENTS, ("customer_id",))
    rows = spark.sql(to_spark_sql(sql.duplicate_clients_query())).collect()
    check_unique_clients([tuple(row) for row in rows])
    return columns


def _frame(spark, query: str) -> pd.DataFrame:
    return spark.sql(to_spark_sql(query)).toPandas()


def date_range(
    transactions: Transactions, spark=None
) -> tuple[dt.date | None, dt.date | None, int]:
    """First and last transaction date and the number of rows (``None`` dates when empty)."""
    spark = spark or get_session()
    register(transactions, spark)
    row = spark.sql(to_spark_sql(sql.date_range_query())).first()
    return row["first_date"], row["last_date"], int(row["n_rows"])


def _customer_table(spark, columns, as_of, unit_days, trend_window_days, clients):
    """:func:`features.common.customer_table_query` run on Spark, as a pandas frame."""
    client_columns = None if clients is None else register_clients(clients, spark)
    query = common.customer_table_query(
        lambda text: [tuple(row) for row in spark.sql(to_spark_sql(text)).collect()],
        columns,
        as_of,
        unit_days,
        trend_window_days,
        client_columns,
    )
    return _frame(spark, query)


def customer_features(
    transactions: Transactions,
    as_of: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: Clients = None,
    spark=None,
) -> pd.DataFrame:
    """:func:`features.customer_features` computed on Spark (same columns, rows and order).

    ``spark``: the session to use; default the active one or :func:`kequn.spark.get_session`.
    """
    as_of = check_dates(as_of, "as_of")
    check_params(unit_days, trend_window_days)
    spark = spark or get_session()
    columns = register(transactions, spark)
    return _customer_table(spark, columns, as_of, unit_days, trend_window_days, clients)


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
    spark=None,
) -> dict[str, int]:
    """Write :func:`customer_features` to the Parquet file ``target`` (atomically, from the
    driver); returns the number of ``customers`` and of ``repeat_customers`` (x > 0).

    ``balances`` / ``events``: as for the DuckDB engine; their features are computed on
    Spark and appended to the file (:func:`features.signals.add_signals_to_file`)."""
    customers = customer_features(
        transactions,
        as_of,
        unit_days=unit_days,
        trend_window_days=trend_window_days,
        clients=clients,
        spark=spark,
    )
    write_parquet(target, customers)
    add_signals_to_file(target, as_of, balances, events, "spark")
    return {
        "customers": len(customers),
        "repeat_customers": int((customers["frequency"] > 0).sum()),
    }


def split_at(
    transactions: Transactions,
    cutoff: dt.date,
    end: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: Clients = None,
    spark=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`features.split_at` computed on Spark."""
    cutoff, end = check_holdout(cutoff, end)
    check_params(unit_days, trend_window_days)
    spark = spark or get_session()
    columns = register(transactions, spark)
    calibration = _customer_table(spark, columns, cutoff, unit_days, trend_window_days, clients)
    holdout = _frame(spark, sql.holdout_query(cutoff, end))
    return calibration, holdout_table(calibration, holdout)
