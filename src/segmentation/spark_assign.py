"""The segment stage's assignment on Spark (``engine: spark``).

FIT stays on the driver as with DuckDB (:func:`segmentation.segment.fit_population`: exact
cut-offs and RFM bins in DuckDB, the clusters on the ``scale.fit_customers`` sample, the
cluster profiles that name them); this module applies the fitted :class:`SegmentModel` to
every customer as a Spark job (:func:`kequn.spark_chunks.map_chunks`) with the stage's own
pure chunk function (:func:`segmentation.segment.assign_chunk`: value tier, asset tier,
RFM scores and segment, preference type, cluster id and name), so the rules are written
once. ``clv`` and ``churn_probability`` come from ltv.parquet and churn.parquet, joined on
the row position (a row whose customer_id differs stops the run, as with DuckDB).

The assigned rows come back in customers.parquet's order; the driver then adds each
chunk's previous tier from the migration baseline (a range lookup by customer id in
DuckDB, as with DuckDB), adds up the counts and writes segments.parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from kequn.spark_chunks import join_by_row, map_chunks
from segmentation.segment import SegmentModel, assign_chunk, read_columns


def assigned_chunks(
    model: SegmentModel,
    customers: Path,
    joined: dict[Path, str],
    columns: list[str],
    chunk_rows: int,
    params: dict[str, Any],
) -> Iterator[pd.DataFrame]:
    """:func:`segmentation.segment.assign_chunk` of every customer, run on Spark.

    Parameters
    ----------
    model : SegmentModel
        The fit (driver side); pickled to the executors.
    customers : Path
        customers.parquet.
    joined : dict of Path to str
        Per-customer file -> the column it adds (ltv.parquet: clv, churn.parquet:
        churn_probability); only those listed in ``columns`` are joined.
    columns : list of str
        Every column of the population (customers.parquet's and the joined ones).
    chunk_rows : int
        Rows per chunk handed back (``scale.chunk_customers``).
    params : dict
        params.yaml (the ``spark`` session settings).

    Returns
    -------
    Iterator[pd.DataFrame]
        The assigned chunks in customers.parquet's order, as :func:`assign_chunk` makes them.
    """
    wanted = read_columns(columns)
    extra = [(path, [col]) for path, col in joined.items() if col in wanted]
    own = [c for c in wanted if all(c != cols[0] for _, cols in extra)]

    def assign(chunk: pd.DataFrame) -> pd.DataFrame:
        return assign_chunk(chunk[wanted], model)

    return map_chunks(
        customers,
        assign,
        params=params,
        columns=own,
        chunk_rows=chunk_rows,
        near=customers.parent,
        frame=join_by_row(extra) if extra else None,
    )
