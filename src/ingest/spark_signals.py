"""The optional balance-snapshot and service-event extracts on Spark (``engine: spark``).

The same as the DuckDB engine (:func:`ingest.signals.clean_signal`) at every step: the
rows are read by :func:`ingest.spark_engine.read_extract` with :func:`ingest.signals.roles`,
classified by :func:`ingest.signals.balances_sql` / :func:`ingest.signals.events_sql`
(DuckDB dialect, translated by :func:`kequn.spark.to_spark_sql`), counted by
:func:`ingest.signals.signal_counts` over the same queries, and the accepted rows are
written as one Parquet file sorted by (customer_id, date, file_id, line) with the DuckDB
engine's column types. Their rejects join ``rejects.csv`` after those of the transactions
and the client master (:func:`ingest.spark_engine.write_rejects`), as with DuckDB.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingest import sql
from ingest.mapping import KIND_COLUMNS, Mapping
from ingest.signals import output_columns, signal_counts
from ingest.spark_engine import OUTPUT_TYPES, Staging, _clean, write_single_parquet
from kequn.io import atomic_path
from kequn.log import get_logger, timed
from kequn.spark import to_spark_sql

log = get_logger("ingest.spark")


def _fetch(spark, query: str) -> list[tuple]:
    """The rows of ``query`` (DuckDB dialect) run on Spark, as tuples."""
    return [tuple(row) for row in spark.sql(to_spark_sql(query)).collect()]


def clean_signals(
    spark, mappings: dict[str, Mapping], extract_date: dt.date, staging: Staging
) -> dict[str, dict[str, Any]]:
    """Read and classify every configured optional extract on Spark.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session.
    mappings : dict
        Kind (``balances``, ``events``) -> its mapping; kinds not configured are absent.
    extract_date : date
        The run's extract date, used where a mapping sets none; later dates are
        ``date_after_extract``.
    staging : Staging
        Scratch space for the parsed and classified rows.

    Returns
    -------
    dict
        Kind -> its ingest.json counts (the keys of :func:`ingest.signals.signal_counts`);
        the classified rows stay queryable as the views ``<kind>_cleaned`` and
        ``<kind>_extract_files`` for :func:`write_signals` and the rejects.
    """
    metrics = {}
    for kind, mapping in mappings.items():
        with timed(log, f"reading and cleaning {mapping.path} on Spark"):
            paths = _clean(spark, mapping, kind, mapping.extract_date or extract_date, staging)
            metrics[kind] = signal_counts(partial(_fetch, spark), f"{kind}_cleaned", kind, paths)
    return metrics


def write_signals(
    spark, mappings: dict[str, Mapping], targets: dict[str, Path], staging: Staging
) -> None:
    """Write each optional extract's accepted rows to its target, as ONE Parquet file.

    A configured kind gets the rows of ``<kind>_cleaned`` without a reason, sorted by
    (customer_id, date, file_id, line), in the columns of
    :func:`ingest.signals.output_columns`; a kind in ``targets`` but not in ``mappings``
    gets an empty file with the required columns (as the DuckDB engine writes).
    """
    for kind, target in targets.items():
        if kind not in mappings:
            write_empty(kind, Path(target))
            continue
        columns = output_columns(mappings[kind], kind)
        query = to_spark_sql(sql.accepted_sql(f"{kind}_cleaned", columns))
        with timed(log, f"writing {target}"):
            write_single_parquet(spark, query, columns, Path(target), staging)


def write_empty(kind: str, target: Path) -> None:
    """An empty Parquet file with the required columns of ``kind`` (no extract configured)."""
    schema = pa.schema([pa.field(c, OUTPUT_TYPES[c]) for c in KIND_COLUMNS[kind][0]])
    with atomic_path(target) as out:
        pq.write_table(schema.empty_table(), out)
