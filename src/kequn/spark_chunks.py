"""Score a per-customer Parquet file on Spark with a pandas function, chunk by chunk.

The model stages fit small models on the driver (a sample, distinct histories) and then
apply them to every customer. With ``engine: spark`` that application is a Spark job:
:func:`map_chunks` reads the file on Spark, runs the stage's own pure scoring function on
every Arrow batch of every partition (``mapInPandas``), has the executors write the scored
rows as Parquet parts under a scratch folder, and streams the parts back to the driver in
the file's row order, so the stage writes the same single Parquet file as with DuckDB.

Row order: each row carries its position in the file (Spark's ``_metadata.row_index``);
every part holds a contiguous, increasing run of positions, the parts are read in the order
of their first position, and a position out of order stops the run. A plain scoring sorts
nothing (no shuffle); a job that joins other files' columns sorts by position once.

Output types: the scoring function is first run on the driver on the file's first rows;
that frame's Arrow schema is the schema of the Spark job, and every streamed chunk is cast
back to it (same dtypes as the DuckDB path).

Scratch space: ``spark.staging_dir`` (``KEQUN_SPARK_STAGING_DIR``) when set, a folder the
driver and the executors both reach (``hdfs://``, ``s3a://`` with a pyarrow filesystem for
the driver, or a shared mount); else a temporary folder beside ``near`` (local mode).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from kequn.chunks import iter_exact_chunks
from kequn.errors import UserError
from kequn.spark import get_session

#: column carrying each row's position in the source file through the Spark job
ROW = "_source_row"
#: rows of the source the scoring function is probed on, for the output schema
PROBE_ROWS = 64
#: Arrow batch size of ``mapInPandas`` (rows handed to the scoring function at a time)
BATCH_ROWS = 100_000


def _uri(path: str | Path) -> str:
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def _spark_type(field: pa.Field) -> pa.Field:
    """A field Spark can carry: large strings as strings."""
    if pa.types.is_large_string(field.type):
        return field.with_type(pa.string())
    return field


def output_schema(score: Callable[[pd.DataFrame], pd.DataFrame], probe: pd.DataFrame) -> pa.Schema:
    """The Arrow schema of ``score``'s frames, from a run on ``probe`` (the file's first rows).

    Parameters
    ----------
    score : callable
        The stage's chunk scorer: a frame of source rows -> a frame of output rows.
    probe : pd.DataFrame
        A few source rows.

    Returns
    -------
    pa.Schema
        The columns and types of ``score(probe)``.
    """
    schema = pa.Schema.from_pandas(score(probe), preserve_index=False)
    fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


@contextlib.contextmanager
def scratch_dir(params: dict[str, Any] | None, near: Path) -> Iterator[str]:
    """A fresh scratch folder URI for a job's parts, removed afterwards (see module doc)."""
    staging = str(((params or {}).get("spark") or {}).get("staging_dir") or "")
    staging = os.environ.get("KEQUN_SPARK_STAGING_DIR") or staging
    if staging:
        uri = f"{staging.rstrip('/')}/kequn-{uuid.uuid4().hex}"
        try:
            yield uri
        finally:
            filesystem, path = fs.FileSystem.from_uri(uri)
            with contextlib.suppress(OSError, FileNotFoundError):
                filesystem.delete_dir(path)
        return
    near.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=".spark-", dir=near)
    try:
        yield Path(folder).resolve().as_uri() + "/parts"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _parts_in_order(uri: str) -> tuple[fs.FileSystem, list[str]]:
    """The job's Parquet parts, ordered by the first source row each holds (empty ones out)."""
    filesystem, root = fs.FileSystem.from_uri(uri)
    infos = filesystem.get_file_info(fs.FileSelector(root))
    firsts = []
    for info in infos:
        if not info.path.endswith(".parquet"):
            continue
        with filesystem.open_input_file(info.path) as handle:
            meta = pq.ParquetFile(handle).metadata
            if meta.num_rows == 0:
                continue
            column = meta.schema.names.index(ROW)
            firsts.append((meta.row_group(0).column(column).statistics.min, info.path))
    return filesystem, [path for _, path in sorted(firsts)]


def read_back(uri: str, schema: pa.Schema, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The scored rows of the parts under ``uri`` in source order, in chunks of exactly
    ``chunk_rows`` rows (the last may be shorter) whatever the parts, cast to ``schema``; a
    row out of order -> ``RuntimeError`` (never a silent reorder)."""
    filesystem, parts = _parts_in_order(uri)
    rows_per_chunk = int(chunk_rows)
    pending: list[pa.RecordBatch] = []
    held, last = 0, -1

    def chunk(table: pa.Table) -> pd.DataFrame:
        table = table.select(schema.names).cast(schema)
        return table.replace_schema_metadata(schema.metadata).to_pandas()

    for path in parts:
        with filesystem.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=rows_per_chunk):
                rows = batch.column(ROW).to_numpy()
                if rows[0] <= last or (len(rows) > 1 and (rows[1:] <= rows[:-1]).any()):
                    raise RuntimeError(f"{uri}: Spark parts are not in source row order")
                last = int(rows[-1])
                pending.append(batch)
                held += batch.num_rows
                while held >= rows_per_chunk:
                    table = pa.Table.from_batches(pending)
                    yield chunk(table.slice(0, rows_per_chunk))
                    rest = table.slice(rows_per_chunk)
                    pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield chunk(pa.Table.from_batches(pending))


def map_chunks(
    source: str | Path,
    score: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    params: dict[str, Any] | None = None,
    columns: list[str] | None = None,
    chunk_rows: int = 1_000_000,
    near: Path = Path("data"),
    frame: Callable[[Any], Any] | None = None,
    keep: str | None = None,
) -> Iterator[pd.DataFrame]:
    """``score`` applied on Spark to every row of the Parquet file ``source``, streamed back
    in the file's order.

    Parameters
    ----------
    source : str or Path
        A per-customer Parquet file (local path or URI the session reads).
    score : callable
        Pure chunk scorer: frame of ``columns`` -> output frame with one row per input row,
        in the same order. It must not depend on the other rows of the file (the chunks
        Spark hands it are not the DuckDB path's chunks). It is pickled to the executors.
    params : dict, optional
        params.yaml (the ``spark:`` section: session, staging_dir).
    columns : list of str, optional
        Source columns to read (all when None).
    chunk_rows : int
        Rows per streamed output frame (``scale.chunk_customers``).
    near : Path
        Where the local scratch folder goes (beside the stage's output).
    frame : callable, optional
        Spark DataFrame -> Spark DataFrame applied after reading (e.g. a join adding other
        files' columns); it must keep the rows and the ``_source_row`` column. The result
        is ordered by ``_source_row`` again (one range-partitioned sort).
    keep : str, optional
        A boolean column of ``score``'s output: only the rows where it is true come back
        (without it), still in file order (a filter run on the executors).

    Returns
    -------
    Iterator[pd.DataFrame]
        The scored rows, ``chunk_rows`` at a time, with the probe's dtypes.
    """
    spark = get_session(params)
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    data = spark.read.parquet(_uri(source))
    data = data.select(*(columns or data.columns), F.col("_metadata.row_index").alias(ROW))
    if frame is not None:  # a join shuffles: back to contiguous runs of source rows
        data = frame(data).orderBy(ROW)
    inputs = [c for c in data.columns if c != ROW]
    probe_source = next(iter_exact_chunks(source, PROBE_ROWS, columns), None)
    if probe_source is None:
        raise UserError(f"{source}: no rows to score")
    if frame is not None:  # the probe must see the joined columns too
        probe_source = data.limit(PROBE_ROWS).toPandas()[inputs]
    schema = output_schema(score, probe_source)
    if keep is not None:
        schema = schema.remove(schema.get_field_index(keep))
    fields = [_spark_type(f).remove_metadata() for f in schema]
    spark_schema = pa.schema([*fields, pa.field(ROW, pa.int64())])

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = batch[ROW].to_numpy()
            out = score(batch[inputs].reset_index(drop=True)).reset_index(drop=True)
            out[ROW] = rows
            if keep is not None:
                out = out[out[keep].to_numpy(dtype=bool)]
            yield out[[*schema.names, ROW]]

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS))
    scored = data.mapInPandas(apply, schema=from_arrow_schema(spark_schema))
    with scratch_dir(params, Path(near)) as uri:
        scored.write.mode("overwrite").parquet(uri)
        yield from read_back(uri, schema, chunk_rows)


def join_by_row(files: list[tuple[Path, list[str]]]) -> Callable[[Any], Any]:
    """A ``frame`` for :func:`map_chunks`: other per-customer files' columns beside each row.

    Parameters
    ----------
    files : list of (Path, list of str)
        Files holding the same customers in the same order as the source (each later stage
        writes its file from customers.parquet), and the columns to take from each.

    Returns
    -------
    callable
        Spark frame (with ``customer_id`` and ``_source_row``) -> the frame with the files'
        columns, joined on the row position. A row whose ``customer_id`` differs in a file
        (or is missing there) -> :class:`UserError` naming the file and the first such row,
        after one Spark job for all the files.
    """

    def join(data):
        from pyspark.sql import functions as F

        spark = data.sparkSession
        ids = []
        for i, (path, columns) in enumerate(files):
            other = spark.read.parquet(_uri(path))
            name = f"_id_{i}"
            picked = [F.col("customer_id").alias(name), F.col("_metadata.row_index").alias(ROW)]
            data = data.join(other.select(*picked, *columns), on=ROW, how="left")
            ids.append(name)
        bad = [F.col(n).isNull() | (F.col(n) != F.col("customer_id")) for n in ids]
        flags = [F.min(F.when(b, F.col(ROW))).alias(n) for b, n in zip(bad, ids, strict=True)]
        firsts = data.agg(*flags).collect()[0] if ids else []
        for (path, _), first in zip(files, firsts, strict=True):
            if first is not None:
                raise UserError(
                    f"{path}: customer_id does not match the customers file row for row (row "
                    f"{first + 1}); rerun the stage that writes it"
                )
        return data.drop(*ids)

    return join
