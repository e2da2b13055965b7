"""Ingest on Apache Spark: the same mappings, cleaning SQL, reject rules and outputs as DuckDB.

What is shared with the DuckDB engine: the mapping (:mod:`ingest.mapping`), the header
and column checks (:func:`ingest.read.split_header`, :func:`ingest.read.column_positions`),
the field-splitting and cleaning SQL (:mod:`ingest.sql`, DuckDB dialect, translated by
:func:`kequn.spark.to_spark_sql`) and the metrics rules (:mod:`ingest.clean`). What is
Spark's own is the I/O at the edges:

- **lines with their numbers.** ``spark.read.text`` splits a file into blocks read in
  parallel and does not number lines. Each row gets ``monotonically_increasing_id()``
  (consecutive within a block) and its block's start offset (``_metadata``); one small
  aggregate per (file, block) -- first id and row count -- gives every block's first
  line, so ``line = lines in earlier blocks + id - first id in block + 1``. Blank lines
  stay in place (they count, then are skipped), so numbers match the file exactly.
- **decoding.** Line ends are found on bytes, which is safe for UTF-8 and GB18030/GBK
  (no multi-byte character contains ``\\n``); a non-UTF-8 line is decoded in the JVM with
  ``decode(CAST(value AS BINARY), '<charset>')``.
- **writing.** Spark writes the sorted accepted rows as part files into a staging
  directory; they are then copied, in order, row group by row group, into ONE Parquet
  file with the DuckDB engine's schema (constant memory). Rejects are collected (they
  are few) and written with DuckDB's CSV writer, so ``rejects.csv`` has the same bytes.

Every path in a mapping's ``files`` may be a local path/glob or a Hadoop URI
(``hdfs://...``, ``s3a://bucket/txn_*.csv``) that the Spark session can read.
"""

from __future__ import annotations

import codecs
import datetime as dt
import glob as pyglob
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ingest import signals, sql
from ingest.clean import (
    CLIENT_ROLES,
    TRANSACTION_ROLES,
    check_reject_rate,
    cleaning_sql,
    count_metrics,
    failed_rejects_path,
    output_columns,
)
from ingest.mapping import Mapping
from ingest.read import column_positions, decompress, resolve_files, split_header
from kequn.errors import UserError
from kequn.io import atomic_path, write_json
from kequn.log import get_logger, timed
from kequn.spark import to_spark_sql

log = get_logger("ingest.spark")

#: Python codec name -> Java charset name, where they differ by more than letter case
JAVA_CHARSETS = {"iso8859-1": "ISO-8859-1", "utf-8-sig": "UTF-8", "cp936": "GBK"}

#: Arrow type of every output column (the DuckDB engine's Parquet schema)
OUTPUT_TYPES = {
    "customer_id": pa.string(),
    "date": pa.date32(),
    "amount": pa.float64(),
    "product": pa.string(),
    "channel": pa.string(),
    "txn_id": pa.string(),
    "client_type": pa.string(),
    "industry": pa.string(),
    "region": pa.string(),
    "open_date": pa.date32(),
    "asset_balance": pa.float64(),
    "close_date": pa.date32(),
    "branch": pa.string(),
    "branch_name": pa.string(),
    "relationship_manager": pa.string(),
    "balance": pa.float64(),
    "type": pa.string(),
    "event_id": pa.string(),
    "severity": pa.string(),
    "score": pa.float64(),
    "resolved_date": pa.date32(),
}


class Staging:
    """Scratch space that Spark writes to and the driver reads back.

    By default a local temporary directory (local mode). On a cluster set
    ``spark.kequn.staging_dir`` (params ``spark.staging_dir``) to a URI that the executors
    and the driver both reach, e.g. ``hdfs:///tmp/kequn`` or ``s3a://bucket/tmp``; the
    driver reads it back with ``pyarrow.fs`` (``s3a://`` is read as ``s3://``).
    """

    def __init__(self, spark) -> None:
        self.local = Path(tempfile.mkdtemp(prefix="kequn-spark-ingest-"))
        base = (spark.conf.get("spark.kequn.staging_dir", "") or "").rstrip("/")
        self.uri = f"{base}/{self.local.name}" if base else self.local.as_uri()
        self.fs, self.root = pafs.FileSystem.from_uri(self.uri.replace("s3a://", "s3://", 1))

    def path(self, name: str) -> str:
        """URI of ``name`` for Spark."""
        return f"{self.uri}/{name}"

    def part_files(self, name: str) -> list[str]:
        """The Parquet part files Spark wrote under ``name``, in partition order."""
        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.root}/{name}"))
        names = [i.path for i in infos if i.base_name.startswith("part-")]
        return sorted(p for p in names if p.endswith(".parquet"))

    def remove(self, name: str | None = None) -> None:
        if name is not None:
            self.fs.delete_dir(f"{self.root}/{name}")
            return
        if self.uri != self.local.as_uri():
            self.fs.delete_dir(self.root)
        shutil.rmtree(self.local, ignore_errors=True)


def java_charset(encoding: str) -> str:
    """The Java name of a Python codec (``gb18030`` -> ``GB18030``)."""
    name = codecs.lookup(encoding).name
    if name.startswith(("utf-16", "utf-32")):
        raise UserError(f"encoding {encoding}: engine spark reads byte-oriented encodings only")
    return JAVA_CHARSETS.get(name, name.upper())


def _check_charset(mapping: Mapping) -> None:
    """Refuse, naming the mapping file, an encoding Spark's line reader cannot split."""
    try:
        java_charset(mapping.encoding)
    except UserError as exc:
        raise UserError(
            f"{mapping.path}: key 'encoding': {exc}; re-encode the extract as UTF-8 or GB18030, "
            "or use engine: duckdb"
        ) from None


def is_remote(path: str) -> bool:
    return "://" in str(path)


def _uri(path: str) -> str:
    return str(path) if is_remote(path) else Path(path).resolve().as_uri()


def source_files(mapping: Mapping, spark) -> list[str]:
    """The files a mapping names: local globs as the DuckDB engine resolves them, Hadoop
    URIs (``hdfs://``, ``s3a://``) through the session's file system, in name order."""
    if not any(is_remote(p) for p in mapping.files):
        return [str(p) for p in resolve_files(mapping)]
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    found: list[str] = []
    for pattern in mapping.files:
        if not is_remote(pattern):
            matches = sorted(pyglob.glob(pattern)) if pyglob.has_magic(pattern) else [pattern]
        else:
            hpath = jvm.org.apache.hadoop.fs.Path(pattern)
            statuses = hpath.getFileSystem(conf).globStatus(hpath) or []
            matches = sorted(str(s.getPath().toString()) for s in statuses if s.isFile())
        if not matches:
            raise UserError(f"{mapping.path}: files: '{pattern}' matches no file")
        found.extend(m for m in matches if m not in found)
    return found


def first_line(spark, path: str, encoding: str) -> str:
    """The first line of a file, decoded (a local file directly, a URI through Hadoop)."""
    if not is_remote(path):
        with open(path, "rb") as handle:
            raw = handle.readline()
        try:
            return raw.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            raise UserError(
                f"{path}: the first line is not valid {encoding}; set `encoding:` in the mapping"
            ) from None
    jvm = spark._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    stream = hpath.getFileSystem(spark._jsc.hadoopConfiguration()).open(hpath)
    try:
        reader = jvm.java.io.BufferedReader(
            jvm.java.io.InputStreamReader(stream, java_charset(encoding))
        )
        return (reader.readLine() or "").lstrip("\ufeff")
    finally:
        stream.close()


def _excel_as_csv(path: str, tmp: Path, file_id: int) -> str:
    target = tmp / f"excel_{file_id}.csv"
    try:
        sheet = pd.read_excel(path, header=None, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise UserError(f"{path}: cannot read as an Excel workbook: {exc}") from None
    sheet.to_csv(target, header=False, index=False, encoding="utf-8", lineterminator="\n")
    return str(target)


#: low bits of ``monotonically_increasing_id()``: the row's position in its partition
ROW_IN_PARTITION = (1 << 33) - 1


def file_size(spark, path: str) -> int:
    if not is_remote(path):
        return Path(path).stat().st_size
    hpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    return int(hpath.getFileSystem(spark._jsc.hadoopConfiguration()).getFileStatus(hpath).getLen())


def with_line_numbers(spark, rows, paths: list[str]):
    """``rows`` plus ``line``: the 1-based line (row) number of each row in its file.

    ``rows`` has ``file_id``, ``block`` (start offset of the split the row was read from)
    and ``row_id`` (``monotonically_increasing_id()`` right after the scan, one file per
    scan). A split is read by one task, in file order, so a row's position in its split
    is ``row_id - (first row_id of the split)``, and in a partition holding one split
    it is simply ``row_id``'s low bits. A file no larger than Spark's smallest split size
    (``min(maxPartitionBytes, openCostInBytes)``) is never split: its line is that + 1.
    Larger files need the row counts of their earlier splits: one aggregate per (file,
    split) -- a few rows per file -- collected and joined back (broadcast).
    """
    from pyspark.sql import functions as F

    smallest = min(
        _bytes(spark.conf.get("spark.sql.files.maxPartitionBytes", "128m")),
        _bytes(spark.conf.get("spark.sql.files.openCostInBytes", "4m")),
    )
    single = F.col("row_id").bitwiseAND(F.lit(ROW_IN_PARTITION)) + 1
    large = [i for i, path in enumerate(paths) if file_size(spark, path) > smallest]
    if not large:
        return rows.withColumn("line", single)
    blocks = (
        rows.where(F.col("file_id").isin(large))
        .groupBy("file_id", "block")
        .agg(F.min("row_id").alias("first_id"), F.count("*").alias("n"))
        .toPandas()
        .sort_values(["file_id", "block"])
    )
    # line of each split's first row: rows in the file's earlier splits + 1
    blocks["first_line"] = blocks.groupby("file_id")["n"].cumsum() - blocks["n"] + 1
    offsets = spark.createDataFrame(
        blocks[["file_id", "block", "first_id", "first_line"]].astype("int64")
    ).withColumn("file_id", F.col("file_id").cast("int"))
    split = F.col("row_id") - F.col("first_id") + F.col("first_line")
    return (
        rows.join(F.broadcast(offsets), ["file_id", "block"], "left")
        .withColumn("line", F.coalesce(split, single))
        .drop("first_id", "first_line")
    )


def _bytes(text: str) -> int:
    text = str(text).strip().lower().rstrip("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def numbered_lines(spark, paths: list[str], encoding: str):
    """DataFrame ``(file_id, line, raw)``: every physical line of every file, 1-based.

    ``file_id`` is the position in ``paths``; the BOM of a first line is removed.
    """
    from pyspark.sql import functions as F

    parts = [
        spark.read.text(_uri(path)).select(
            F.lit(file_id).cast("int").alias("file_id"),
            F.col("_metadata.file_block_start").alias("block"),
            F.monotonically_increasing_id().alias("row_id"),
            F.col("value"),
        )
        for file_id, path in enumerate(paths)
    ]
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    numbered = with_line_numbers(spark, rows, paths)
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        text = F.col("value")
    else:
        text = F.expr(f"decode(CAST(value AS BINARY), {sql.literal(java_charset(encoding))})")
    raw = F.when(F.col("line") == 1, F.regexp_replace(text, "^\ufeff", "")).otherwise(text)
    return numbered.select("file_id", "line", raw.alias("raw"))


def _layout(mapping: Mapping, header_line: str | None, path: str) -> tuple:
    """(header lines, role positions, n_min, n_max) of one text file."""
    header = None
    if mapping.header:
        if header_line is None or not header_line.strip():
            raise UserError(
                f"{path}: empty file or blank first line, but the mapping says header: true"
            )
        header = split_header(header_line, mapping)
    positions = column_positions(mapping, header, path)
    n_min = len(header) if header is not None else max(positions.values()) + 1
    n_max = len(header) if header is not None else None
    if mapping.format == "fixed":
        n_max = len(mapping.widths)
    return int(mapping.header), tuple(sorted(positions.items())), n_min, n_max


def split_sql(
    layout: tuple, file_ids: list[int], fmt: str, delimiter: str, roles, widths=()
) -> str:
    """SELECT (DuckDB dialect) over ``lines`` giving the ``extract`` rows of some files.

    The same field splitting, unquoting and skipping of blank lines as the DuckDB
    engine's line-by-line reader (:func:`ingest.sql.split_parts`).
    """
    header_lines, positions, n_min, n_max = layout
    fields, n_fields, values, only_delimiters = sql.split_parts(
        fmt, delimiter, widths, dict(positions), roles
    )
    return f"""SELECT file_id, line, raw,
       {n_fields} AS n_fields,
       {n_min} AS n_min, CAST({"NULL" if n_max is None else n_max} AS INTEGER) AS n_max,
       {values}
FROM (SELECT file_id, line, raw, {fields} AS fields FROM lines
      WHERE file_id IN ({", ".join(map(str, file_ids))}) AND line > {header_lines}
        AND raw IS NOT NULL AND NOT ({only_delimiters}))"""


def _parquet_extract(spark, paths: list[str], mapping: Mapping, roles):
    """``extract`` rows of Parquet files: every column cast to text, row number as line."""
    from pyspark.sql import functions as F

    parts = []
    for file_id, path in enumerate(paths):
        frame = spark.read.parquet(_uri(path))
        header = list(frame.columns)
        positions = column_positions(mapping, header, path)
        as_text = [F.col(f"`{name}`").cast("string") for name in header]
        parts.append(
            frame.select(
                F.lit(file_id).cast("int").alias("file_id"),
                F.col("_metadata.file_block_start").alias("block"),
                F.monotonically_increasing_id().alias("row_id"),
                F.concat_ws(",", *as_text).alias("raw"),
                F.lit(len(header)).cast("int").alias("n_fields"),
                F.lit(len(header)).cast("int").alias("n_min"),
                F.lit(len(header)).cast("int").alias("n_max"),
                *[
                    (as_text[positions[r]] if r in positions else F.lit(None).cast("string")).alias(
                        r
                    )
                    for r in roles
                ],
            )
        )
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    return with_line_numbers(spark, rows, paths).select(
        "file_id", "line", "raw", "n_fields", "n_min", "n_max", *roles
    )


def read_extract(spark, mapping: Mapping, roles: tuple[str, ...], tmp: Path):
    """The ``extract`` DataFrame of a mapping and the files read (see :mod:`ingest.sql`)."""
    if mapping.format not in ("parquet", "excel"):
        _check_charset(mapping)
    paths = source_files(mapping, spark)
    if mapping.format == "parquet":
        return _parquet_extract(spark, paths, mapping, roles), paths
    fmt, delimiter, encoding = mapping.format, mapping.delimiter, mapping.encoding
    read_paths = [
        p if is_remote(p) else str(decompress(Path(p), tmp, f"source_{i}"))
        for i, p in enumerate(paths)
    ]
    if fmt == "excel":
        read_paths = [_excel_as_csv(p, tmp, i) for i, p in enumerate(read_paths)]
        fmt, delimiter, encoding = "csv", ",", "utf-8"
    elif fmt == "tsv":
        delimiter = "\t"
    layout_mapping = mapping if fmt == mapping.format else _as_csv(mapping)
    groups: dict[tuple, list[int]] = {}
    for file_id, (path, read_path) in enumerate(zip(paths, read_paths, strict=True)):
        header = first_line(spark, read_path, encoding) if mapping.header else None
        groups.setdefault(_layout(layout_mapping, header, path), []).append(file_id)
    numbered_lines(spark, read_paths, encoding).createOrReplaceTempView("lines")
    query = " UNION ALL ".join(
        f"({split_sql(layout, ids, fmt, delimiter, roles, mapping.widths)})"
        for layout, ids in groups.items()
    )
    return spark.sql(to_spark_sql(query)), paths


def _as_csv(mapping: Mapping) -> Mapping:
    from dataclasses import replace

    return replace(mapping, format="csv", delimiter=",")


def _files_view(spark, paths: list[str], name: str) -> None:
    frame = pd.DataFrame({"file_id": range(len(paths)), "source_file": paths})
    spark.createDataFrame(frame).createOrReplaceTempView(name)


def _roles_and_query(mapping: Mapping, kind: str, source: str, extract_date: dt.date):
    """The columns read for ``kind`` and its cleaning query over ``source`` (DuckDB dialect)."""
    if kind in ("balances", "events"):
        query = (signals.balances_sql if kind == "balances" else signals.events_sql)(
            mapping, source, extract_date
        )
        return signals.roles(kind), query
    roles = TRANSACTION_ROLES if kind == "transactions" else CLIENT_ROLES
    return roles, cleaning_sql(mapping, kind, source, extract_date)


def _clean(spark, mapping: Mapping, kind: str, extract_date: dt.date, staging: Staging):
    """Read and classify one extract into Parquet, queried as the view ``<kind>_cleaned``
    (``kind``: transactions, clients, balances or events)."""
    source = f"{kind}_extract"
    roles, query = _roles_and_query(mapping, kind, source, extract_date)
    extract, paths = read_extract(spark, mapping, roles, staging.local)
    # parsed once into Parquet: the cleaning SQL reads its source twice (duplicate check)
    staged_extract = staging.path(source)
    extract.write.mode("overwrite").parquet(staged_extract)
    spark.read.parquet(staged_extract).createOrReplaceTempView(source)
    _files_view(spark, paths, f"{source}_files")
    staged = staging.path(f"{kind}_cleaned")
    spark.sql(to_spark_sql(query)).write.mode("overwrite").parquet(staged)
    spark.read.parquet(staged).createOrReplaceTempView(f"{kind}_cleaned")
    return paths


def _counts(spark, kind: str, paths: list[str]) -> dict[str, Any]:
    cleaned = f"{kind}_cleaned"
    rows_read = spark.sql(f"SELECT COUNT(*) AS n FROM {cleaned}").first()["n"]
    found = {
        row["reason"]: row["n"]
        for row in spark.sql(to_spark_sql(sql.reason_counts_sql(cleaned))).collect()
    }
    return count_metrics(int(rows_read), {r: int(n) for r, n in found.items()}, paths)


def ingest_metrics(spark, paths: list[str], clients_paths: list[str] | None) -> dict[str, Any]:
    """``reports/metrics/ingest.json``, the same keys as :func:`ingest.clean.ingest_metrics`."""
    metrics = _counts(spark, "transactions", paths)
    summary = spark.sql(to_spark_sql(sql.summary_sql("transactions_cleaned"))).first()
    metrics.update(
        customers=int(summary["customers"]),
        first_date=summary["first_date"].isoformat() if summary["first_date"] else None,
        last_date=summary["last_date"].isoformat() if summary["last_date"] else None,
        amounts_negative=int(summary["amounts_negative"]),
        amounts_zero=int(summary["amounts_zero"]),
    )
    if clients_paths is not None:
        metrics["clients"] = _counts(spark, "clients", clients_paths)
    return metrics


def _batches(staging: Staging, parts: list[str], schema: pa.Schema) -> Iterator[pa.Table]:
    for part in parts:
        handle = pq.ParquetFile(staging.fs.open_input_file(part))
        for group in range(handle.num_row_groups):
            table = handle.read_row_group(group)
            yield pa.Table.from_arrays(
                [table[name].cast(schema.field(name).type) for name in schema.names],
                schema=schema,
            )


def write_single_parquet(
    spark, query: str, columns: list[str], target: Path, staging: Staging
) -> int:
    """Run ``query`` (Spark SQL, sorted) and write its rows, in order, as ONE Parquet file.

    Spark writes part files (one per sorted range) to ``staging``; they are copied row group
    by row group into ``target`` (atomically) with the DuckDB engine's column types.
    Returns the number of rows.
    """
    name = f"out_{target.stem}"
    spark.sql(query).write.mode("overwrite").parquet(staging.path(name))
    schema = pa.schema([pa.field(c, OUTPUT_TYPES.get(c, pa.string())) for c in columns])
    rows = 0
    with atomic_path(target) as out:
        with pq.ParquetWriter(out, schema) as writer:
            for batch in _batches(staging, staging.part_files(name), schema):
                writer.write_table(batch)
                rows += batch.num_rows
    staging.remove(name)
    return rows


def write_rejects(spark, kinds: list[str], target: Path) -> int:
    """Collect the rejected rows (file, line order) and write them as DuckDB writes them."""
    queries = [
        to_spark_sql(sql.rejects_sql(f"{kind}_cleaned", f"{kind}_extract_files")) for kind in kinds
    ]
    frames = [spark.sql(q).toArrow() for q in queries]
    schema = pa.schema(
        [("source_file", pa.string()), ("line", pa.int64()), ("reason", pa.string())]
        + [("raw", pa.string())]
    )
    table = pa.concat_tables([f.select(schema.names).cast(schema) for f in frames])
    con = duckdb.connect()
    con.register("rejects", table)
    with atomic_path(target) as out:
        con.execute(
            f"COPY (SELECT * FROM rejects) TO {sql.literal(str(out))} (FORMAT csv, HEADER true)"
        )
    con.close()
    return table.num_rows


def _reject_rate_problems(metrics: dict, limit: float, mappings: dict) -> list[str]:
    """One message per extract whose reject rate is above ``limit``, in the order of
    ``mappings`` (metrics key -> mapping; ``transactions`` for the top level)."""
    problems = []
    for kind, each in mappings.items():
        counts = metrics if kind == "transactions" else metrics[kind]
        problems.append(check_reject_rate(counts, limit, each.path))
    return [p for p in problems if p]


def _write_main(spark, mapping, clients_mapping, transactions_path, clients_path, staging):
    """Write the accepted transactions and client master (no rows when there is none)."""
    with timed(log, f"writing {transactions_path}"):
        columns = output_columns(mapping, "transactions")
        accepted = to_spark_sql(
            sql.accepted_sql("transactions_cleaned", columns, mapping.group_lines)
        )
        write_single_parquet(spark, accepted, columns, Path(transactions_path), staging)
        if clients_mapping is not None:
            columns = output_columns(clients_mapping, "clients")
            accepted = to_spark_sql(sql.accepted_sql("clients_cleaned", columns))
        else:
            columns = ["customer_id"]
            accepted = "SELECT CAST(NULL AS STRING) AS customer_id WHERE 1 = 0"
        write_single_parquet(spark, accepted, columns, Path(clients_path), staging)


def run_ingest(
    mapping: Mapping,
    clients_mapping: Mapping | None,
    max_reject_rate: float,
    spark,
    *,
    transactions_path: str | Path,
    clients_path: str | Path,
    rejects_path: str | Path,
    metrics_path: str | Path | None = None,
    extract_date: dt.date | None = None,
    signal_mappings: dict[str, Mapping] | None = None,
    signal_paths: dict[str, str | Path] | None = None,
) -> dict[str, Any]:
    """The ingest stage on Spark: writes the same files as the DuckDB engine; returns metrics.

    ``signal_mappings`` (kind ``balances`` / ``events`` -> mapping) adds the optional
    extracts (:mod:`ingest.spark_signals`): their counts under ``metrics[kind]``, their
    rejects after the client master's, their rows to ``signal_paths[kind]``; a kind in
    ``signal_paths`` without a mapping gets an empty file. When a reject rate is above
    ``max_reject_rate`` the rejects go to :func:`ingest.clean.failed_rejects_path` and a
    :class:`UserError` follows; no output is touched (as with DuckDB).
    """
    from ingest.spark_signals import clean_signals, write_signals

    extract_date = extract_date or mapping.extract_date or dt.date.today()
    signal_mappings = signal_mappings or {}
    staging = Staging(spark)
    try:
        with timed(log, f"reading and cleaning {mapping.path} on Spark"):
            paths = _clean(spark, mapping, "transactions", extract_date, staging)
        client_paths = None
        if clients_mapping is not None:
            with timed(log, f"reading and cleaning {clients_mapping.path} on Spark"):
                client_paths = _clean(spark, clients_mapping, "clients", extract_date, staging)
        metrics = ingest_metrics(spark, paths, client_paths)
        metrics.update(clean_signals(spark, signal_mappings, extract_date, staging))
        read = {"transactions": mapping, "clients": clients_mapping, **signal_mappings}
        read = {kind: each for kind, each in read.items() if each is not None}
        problems = _reject_rate_problems(metrics, max_reject_rate, read)
        if problems:  # the previous run's outputs stay; this run's rejects go apart
            write_rejects(spark, list(read), failed_rejects_path(Path(rejects_path)))
            raise UserError("; ".join(problems))
        with timed(log, f"writing {rejects_path}"):
            write_rejects(spark, list(read), Path(rejects_path))
        failed_rejects_path(Path(rejects_path)).unlink(missing_ok=True)
        _write_main(spark, mapping, clients_mapping, transactions_path, clients_path, staging)
        write_signals(spark, signal_mappings, signal_paths or {}, staging)
        if metrics_path is not None:
            write_json(metrics_path, metrics)
        return metrics
    finally:
        staging.remove()
