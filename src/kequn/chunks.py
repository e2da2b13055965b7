"""Per-customer tables in chunks, and deterministic customer samples, for the model stages.

At bank scale (tens of millions of customers) a model stage must not hold the whole
per-customer table, let alone the transactions, in memory. The pattern every model stage
follows:

1. **fit** on what the model allows: distinct histories (BTYD models: customers with the
   same ``(x, t_x, T)`` share one likelihood term, :meth:`ltv._base.Histories.build`), or
   a deterministic sample of customers (:func:`sample_customer_ids`,
   :func:`transactions_of`) for what needs transactions (backtests, survival, classifiers);
2. **score** the per-customer Parquet chunk by chunk (:func:`iter_chunks`) and append each
   scored chunk to the output (:class:`ChunkedParquetWriter`), so memory is one chunk plus
   the fitted parameters.

Params (top level of params.yaml)::

    scale:
      chunk_customers: 1000000    # rows of customers.parquet scored at a time
      fit_customers: 500000       # customers sampled for fits that need transactions;
                                  # 0 = all (the bundled sample always uses all)

The sample is a hash of the customer id and the run's seed, so it is the same customers
for the same seed on every engine and every rerun, and it does not depend on row order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kequn.io import atomic_path
from kequn.settings import Scale, settings_from
from kequn.sql_text import identifier, parquet_source

#: the ``scale`` section, defined (typed, validated) in :mod:`kequn.settings`
ScaleSettings = Scale
DEFAULT_CHUNK_CUSTOMERS = Scale().chunk_customers
DEFAULT_FIT_CUSTOMERS = Scale().fit_customers


def read_scale(params: Mapping[str, Any]) -> ScaleSettings:
    """The validated ``scale`` section (defaults when absent), via :mod:`kequn.settings`."""
    return settings_from(params).scale


def count_rows(path: str | Path) -> int:
    """Rows of a Parquet file, from its footer (nothing else is read)."""
    return pq.ParquetFile(path).metadata.num_rows


def iter_chunks(
    path: str | Path, chunk_rows: int, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The rows of a Parquet file as data frames of at most ``chunk_rows`` rows, in file order.

    Only ``columns`` are read (all when None). Memory: one chunk, whatever the file size.
    """
    source = pq.ParquetFile(path)
    for batch in source.iter_batches(batch_size=int(chunk_rows), columns=columns):
        yield batch.to_pandas()


def iter_exact_chunks(
    path: str | Path, chunk_rows: int, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The rows of a Parquet file in chunks of exactly ``chunk_rows`` rows (the last may be
    shorter), in file order, whatever the file's row groups.

    :func:`iter_chunks` stops a chunk at each row-group end; these chunks do not, so files
    that hold the same customers in the same order line up chunk for chunk however they
    were written.

    Parameters
    ----------
    path : str or Path
        The Parquet file.
    chunk_rows : int
        Rows per chunk.
    columns : list of str, optional
        The columns to read (all when None).

    Returns
    -------
    Iterator[pd.DataFrame]
        The chunks; memory: at most two chunks' rows at a time.
    """
    rows = int(chunk_rows)
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns):
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).to_pandas()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).to_pandas()


class ChunkedParquetWriter:
    """Append data frames to one Parquet file, atomically: the target appears only when the
    ``with`` block ends without an error (temp file beside it, then rename).

    Every chunk must have the columns and dtypes of the first one. With no chunk written,
    ``empty`` (a frame with the output columns, zero rows) defines the schema.
    """

    def __init__(self, target: str | Path, empty: pd.DataFrame | None = None):
        self.target = Path(target)
        self.empty = empty
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> ChunkedParquetWriter:
        self._atomic = atomic_path(self.target)
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._tmp, table.schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        if self._writer is not None:
            self._writer.close()
        elif exc_type is None:
            empty = self.empty if self.empty is not None else pd.DataFrame()
            empty.to_parquet(self._tmp, index=False)
        return self._atomic.__exit__(exc_type, exc, tb)


def _sample_predicate(n_customers: int, fit_customers: int, seed: int) -> str | None:
    """SQL condition keeping about ``fit_customers`` of ``n_customers`` ids; None for all."""
    if fit_customers <= 0 or n_customers <= fit_customers:
        return None
    per_million = max(1, round(1_000_000 * fit_customers / n_customers))
    return f"hash(customer_id || '|{int(seed)}') % 1000000 < {per_million}"


def sample_customer_ids(
    customers_path: str | Path, fit_customers: int, seed: int
) -> pd.Series | None:
    """A deterministic sample of about ``fit_customers`` ids of ``customers_path``, sorted;
    None when the file has no more customers than that (then: use everyone)."""
    n = count_rows(customers_path)
    predicate = _sample_predicate(n, fit_customers, seed)
    if predicate is None:
        return None
    query = (
        f"SELECT customer_id FROM {parquet_source(customers_path)} "
        f"WHERE {predicate} ORDER BY customer_id"
    )
    with duckdb.connect() as con:
        return con.sql(query).df()["customer_id"]


def transactions_of(
    transactions_path: str | Path,
    customer_ids: pd.Series | None,
    columns: list[str] | None = None,
    arrow_backed: bool = False,
) -> pd.DataFrame:
    """The transactions of ``customer_ids`` (all when None) read from Parquet with DuckDB,
    without loading the other customers' rows.

    ``arrow_backed``: columns of ``pd.ArrowDtype`` with the file's Arrow types (a DATE
    stays a date), not NumPy and Python objects: about a fifth of the memory for the text
    columns of a fit sample, and DuckDB scans them again without converting."""
    source = parquet_source(transactions_path)
    select = ", ".join(identifier(c) for c in columns) if columns else "*"
    query = f"SELECT {select} FROM {source}"
    with duckdb.connect() as con:
        if customer_ids is not None:
            chosen = pd.DataFrame({"customer_id": customer_ids.astype(str).to_numpy()})
            con.register("chosen", chosen)
            query += " WHERE customer_id IN (SELECT customer_id FROM chosen)"
        result = con.sql(query)
        if arrow_backed:
            return result.to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
        return result.df()
