"""The ltv stage's scoring on Spark (``engine: spark``).

The models are fitted on the driver as with DuckDB (the BTYD model on the counts of the
distinct histories, Gamma-Gamma and gbm on the fit sample: :mod:`ltv.stage`); this module
only applies them to every row of customers.parquet as a Spark job
(:func:`kequn.spark_chunks.map_chunks`), with the stage's own chunk scorer
(:func:`ltv.stage._score_chunk`), so the maths is written once. The scored rows come back
in customers.parquet's order; the stage then sums them, ranks the CLV and writes
ltv.parquet exactly as with DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from kequn.rules import customer_margin
from kequn.spark_chunks import map_chunks


def scored_chunks(
    customers: Path,
    read_columns: list[str],
    score: Callable[[pd.DataFrame], pd.DataFrame],
    margin: Any,
    chunk_rows: int,
    params: dict[str, Any],
) -> Iterator[pd.DataFrame]:
    """The chunk scorer ``score`` applied on Spark to ``read_columns`` of ``customers``.

    Parameters
    ----------
    customers : Path
        customers.parquet.
    read_columns : list of str
        The columns the scorer reads.
    score : callable
        One chunk of customers -> its scored rows (the fitted models bound in); runs on the
        executors, quietly.
    margin : float or mapping
        ``ltv.margin``: checked once here, on the driver, so an unmapped product line is
        logged once rather than by every executor batch.
    chunk_rows : int
        Rows per chunk handed back (``scale.chunk_customers``).
    params : dict
        params.yaml (the ``spark`` session settings).

    Returns
    -------
    Iterator[pd.DataFrame]
        The scored rows in customers.parquet's order.
    """
    customer_margin(pd.DataFrame(columns=read_columns), margin)
    return map_chunks(
        customers,
        score,
        params=params,
        columns=read_columns,
        chunk_rows=chunk_rows,
        near=customers.parent,
    )
