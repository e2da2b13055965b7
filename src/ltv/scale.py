"""The ltv stage at bank scale: fits on distinct-history counts, ranks on disk.

Nothing here holds one row per customer of the whole customer table:

- :class:`HistoryCounts` accumulates, chunk by chunk, the distinct histories ``(x, t_x, T)``
  and the number of customers with each. Every BTYD likelihood is a sum over customers of a
  term that depends only on the history, sum_i log L(x_i, t_x,i, T_i) = sum_h w_h log L(h),
  so a fit on the counted distinct histories (``model.fit(x, t_x, T, weights=w)``, the same
  :meth:`ltv._base.Histories.build` compression the models use on per-customer rows) is the
  fit on every customer: same distinct rows in the same (lexicographic) order, same integer
  weights, hence the same optimisation and the same parameters. Memory: the distinct
  histories, which grow with the length of the history in time units, not with customers.
- :func:`write_ranked` adds ``value_percentile`` = 100 (rank - 1) / (n - 1) of the clv among
  all n customers (rank = 1 + the number of customers with a strictly smaller clv, so ties
  share their lowest rank; -0.0 ties with 0.0; a NaN or null clv gets NaN and still counts
  in n; one customer: 100), the definition of :func:`ltv.stage.value_percentile`, with
  DuckDB's ``rank()`` window over the scored chunks on disk, and writes the rows ordered by
  customer_id. DuckDB works within ``memory_limit`` and spills to ``temp_directory``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from kequn.chunks import ChunkedParquetWriter
from kequn.sql_text import identifier, literal, parquet_source
from ltv._base import distinct_rows, validate_rfm

#: column of the scored chunks holding each customer's row number in customers.parquet
ROW = "_row"
#: column of the scored chunks holding clv + 0.0 (-0.0 becomes 0.0, a tie as in pandas)
RANK_KEY = "_rank_key"


@dataclass(frozen=True)
class HistoryCounts:
    """Distinct histories ``(x, t_x, T)`` (lexicographic order) and customers per history."""

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, frequency, recency, T, weights=None) -> HistoryCounts:
        """Compress per-customer (or already weighted) rows; ``ValueError`` on bad histories.

        Recency is clipped to T as :func:`ltv._base.validate_rfm` does before any fit."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        (ux, ut, uT), counts, codes = distinct_rows(x, t_x, big_t)
        if weights is not None:
            counts = np.bincount(codes, weights=np.asarray(weights, dtype=float))
        return cls(ux, ut, uT, counts)

    def add(self, other: HistoryCounts) -> HistoryCounts:
        """The counts of both sets of customers (weights of equal histories summed)."""
        return HistoryCounts.of(
            np.concatenate([self.x, other.x]),
            np.concatenate([self.t_x, other.t_x]),
            np.concatenate([self.T, other.T]),
            np.concatenate([self.weights, other.weights]),
        )

    @property
    def customers(self) -> int:
        return int(round(float(self.weights.sum())))


def count_histories(chunks: Iterable[pd.DataFrame]) -> HistoryCounts:
    """:class:`HistoryCounts` of the frequency/recency/T columns of every chunk."""
    total = None
    for chunk in chunks:
        if chunk.empty:
            continue
        counts = HistoryCounts.of(chunk["frequency"], chunk["recency"], chunk["T"])
        total = counts if total is None else total.add(counts)
    if total is None:
        raise ValueError("no customers: frequency, recency and T are empty")
    return total


def ranked_query(scored: Path, columns: list[str], n: int) -> str:
    """DuckDB SQL: ``columns`` of the scored chunks plus value_percentile, by customer_id."""
    if n <= 1:
        percentile = "100::DOUBLE"
    else:
        percentile = (
            f"CASE WHEN clv IS NULL OR isnan(clv) THEN 'NaN'::DOUBLE ELSE "
            f"(CAST(rank() OVER (ORDER BY {RANK_KEY}) AS DOUBLE) - 1::DOUBLE) "
            f"/ {n - 1}::DOUBLE * 100::DOUBLE END"
        )
    select = ", ".join(identifier(c) for c in columns)
    return (
        f"SELECT {select}, {percentile} AS value_percentile "
        f"FROM {parquet_source(scored)} ORDER BY customer_id, {ROW}"
    )


def write_ranked(
    scored: Path,
    target: Path,
    *,
    columns: list[str],
    n: int,
    model: str,
    chunk_rows: int,
    memory_limit: str,
    temp_directory: Path,
    empty: pd.DataFrame,
) -> int:
    """Write ``target`` (atomically): ``columns``, value_percentile and model for every row of
    ``scored``, ordered by customer_id (then row number), in row groups of ``chunk_rows``.
    Returns the rows written."""
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = {literal(temp_directory)}")
        con.execute("SET preserve_insertion_order = true")
        reader = con.sql(ranked_query(scored, columns, n)).to_arrow_reader(int(chunk_rows))
        with ChunkedParquetWriter(target, empty=empty) as writer:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                frame = batch.to_pandas()
                frame["model"] = model
                writer.write(frame)
            return writer.rows
