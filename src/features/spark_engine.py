"""Customer features on Apache Spark: the SQL of :mod:`features.sql`, translated, then the
same assembly as the DuckDB engine.

The aggregation queries (DuckDB dialect) run on Spark after
:func:`kequn.spark.to_spark_sql`; their results -- one row per customer, and one per
customer and product/channel -- are small and come back to the driver as Arrow, where
:func:`features.assemble.assemble` builds the final table exactly as for DuckDB (shares,
main channel, client join). Only the source differs: a Parquet path (local or any URI the
session reads, e.g. ``hdfs://``/``s3a://``) or a pandas frame becomes the temporary view
``transactions``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from features import sql
from features.assemble import assemble, assemble_holdout, check_dates, split_kinds
from features.duckdb_engine import _check_params, _read_clients
from kequn.errors import UserError
from kequn.spark import get_session, to_spark_sql

Transactions = pd.DataFrame | str | Path


def _uri(path: str | Path) -> str:
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def register(transactions: Transactions, spark) -> list[str]:
    """Make ``transactions`` the Spark view ``sql.SOURCE``; return its column names."""
    if isinstance(transactions, pd.DataFrame):
        name = "transactions"
        frame = spark.createDataFrame(transactions)
    else:
        name = str(transactions)
        if "://" not in name and not Path(name).exists():
            raise UserError(f"{name}: transaction file not found")
        try:
            frame = spark.read.parquet(_uri(transactions))
        except Exception as exc:  # AnalysisException and friends
            raise UserError(
                f"{name}: cannot read as Parquet ({str(exc).splitlines()[0]})"
            ) from None
    frame.createOrReplaceTempView(sql.SOURCE)
    columns = list(frame.columns)
    missing = [c for c in sql.REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise UserError(f"{name}: missing column(s) {', '.join(missing)}")
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


def _features(spark, columns, as_of, unit_days, trend_window_days, clients) -> pd.DataFrame:
    customers = _frame(
        spark, sql.customer_query(as_of, unit_days=unit_days, trend_window_days=trend_window_days)
    )
    kinds = tuple(column for column in ("product", "channel") if column in columns)
    long = None
    if kinds:
        long = _frame(
            spark, sql.categories_query(kinds, as_of, trend_window_days=trend_window_days)
        )
    products, channels = split_kinds(long, kinds)
    return assemble(customers, products, channels, clients)


def customer_features(
    transactions: Transactions,
    as_of: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: pd.DataFrame | str | Path | None = None,
    spark=None,
) -> pd.DataFrame:
    """:func:`features.customer_features` computed on Spark (same columns, rows and order).

    ``spark``: the session to use; default the active one or :func:`kequn.spark.get_session`.
    """
    as_of = check_dates(as_of, "as_of")
    _check_params(unit_days, trend_window_days)
    spark = spark or get_session()
    columns = register(transactions, spark)
    return _features(
        spark, columns, as_of, unit_days, int(trend_window_days), _read_clients(clients)
    )


def split_at(
    transactions: Transactions,
    cutoff: dt.date,
    end: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: pd.DataFrame | str | Path | None = None,
    spark=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`features.split_at` computed on Spark."""
    cutoff = check_dates(cutoff, "cutoff")
    end = check_dates(end, "end")
    if end <= cutoff:
        raise UserError(f"holdout end {end} must be after the cutoff {cutoff}")
    _check_params(unit_days, trend_window_days)
    spark = spark or get_session()
    columns = register(transactions, spark)
    calibration = _features(
        spark, columns, cutoff, unit_days, int(trend_window_days), _read_clients(clients)
    )
    holdout = _frame(spark, sql.holdout_query(cutoff, end))
    return calibration, assemble_holdout(calibration, holdout)
