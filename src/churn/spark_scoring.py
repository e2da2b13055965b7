"""The churn stage's scoring on Spark (``engine: spark``).

Everything is fitted on the driver as with DuckDB (:func:`churn.scoring.fit_churn` on the
fit sample); this module applies the fit to every customer as a Spark job
(:func:`kequn.spark_chunks.map_chunks`) with the stage's own chunk scorer
(:func:`churn.scoring.score_customers`), so the maths is written once. Each customer's
CLV comes from ltv.parquet, joined on the row position (both files hold the same customers
in the same order: a row whose customer_id differs stops the run, as with DuckDB). The
per-chunk counts churn.json adds up besides the table (customers with no score, customers
whose calibration closed the gap) travel in two extra columns, set on each batch's first
row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from churn.model import ChurnFit
from churn.scoring import ScoredChunk, score_customers
from kequn.errors import UserError
from kequn.spark_chunks import ROW, map_chunks

#: the joined ltv.parquet columns, named apart from customers.parquet's
VALUE_ID, VALUE_CLV = "_value_customer_id", "_value_clv"
#: the per-batch counts of :class:`churn.scoring.ScoredChunk`, carried as columns
COUNTS = ("_missing", "_closing")


def _join_value(value_path: Path, with_clv: bool):
    """Spark frame -> the frame with ltv.parquet's customer_id (and clv) by row position."""

    def join(data):
        from pyspark.sql import functions as F

        spark = data.sparkSession
        value = spark.read.parquet(Path(value_path).resolve().as_uri())
        picked = [F.col("customer_id").alias(VALUE_ID), F.col("_metadata.row_index").alias(ROW)]
        if with_clv:
            picked.append(F.col("clv").alias(VALUE_CLV))
        joined = data.join(value.select(*picked), on=ROW, how="left")
        mismatch = joined.filter(
            F.col(VALUE_ID).isNull() | (F.col(VALUE_ID) != F.col("customer_id"))
        ).select(ROW)
        first = mismatch.orderBy(ROW).limit(1).collect()
        if first:
            raise UserError(
                f"{value_path}: customer ids do not match customers.parquet (row "
                f"{first[0][0] + 1}); both must hold the same customers sorted by "
                "customer_id: rerun the ltv stage"
            )
        return joined.drop(VALUE_ID)

    return join


def scored_chunks(
    fit: ChurnFit,
    customers: Path,
    value: Path | None,
    with_clv: bool,
    chunk_rows: int,
    params: dict[str, Any],
    columns: list[str],
) -> Iterator[ScoredChunk]:
    """churn.parquet's ``columns`` for every customer, scored on Spark, in file order.

    Parameters
    ----------
    fit : churn.scoring.ChurnFit
        The fit (driver side); pickled to the executors.
    customers : Path
        customers.parquet.
    value : Path or None
        ltv.parquet (None: no value weighting, as without the file).
    with_clv : bool
        Whether ltv.parquet has a clv column.
    chunk_rows : int
        Rows per chunk handed back (``scale.chunk_customers``).
    params : dict
        params.yaml (the ``spark`` session settings).
    columns : list of str
        The output columns, in order.

    Returns
    -------
    Iterator[ScoredChunk]
        Chunks whose ``missing`` and ``closing`` sum to the DuckDB path's.
    """

    def score(chunk: pd.DataFrame) -> pd.DataFrame:
        clv = chunk.pop(VALUE_CLV) if VALUE_CLV in chunk else None
        scored = score_customers(fit, chunk, clv)
        table = scored.table[columns].copy()
        for name, count in zip(COUNTS, (scored.missing, scored.closing), strict=True):
            table[name] = 0
            if len(table):
                table.iloc[0, table.columns.get_loc(name)] = int(count)
        return table

    join = _join_value(value, with_clv) if value is not None else None
    for table in map_chunks(
        customers,
        score,
        params=params,
        chunk_rows=chunk_rows,
        near=customers.parent,
        frame=join,
    ):
        missing, closing = (int(table.pop(name).sum()) for name in COUNTS)
        yield ScoredChunk(table=table, missing=missing, closing=closing)
