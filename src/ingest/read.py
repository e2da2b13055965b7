"""Reading extracts: files matched by the mapping -> one DuckDB view of raw string fields.

Every row keeps its 1-based line number, and a rejected row its raw text, so that it can be
shown to the analyst exactly as it was. Non-UTF-8 files are transcoded first, in a
background thread while DuckDB parses the previous file (:mod:`ingest.decode`); Excel
sheets are converted to CSV text; Parquet columns are cast to strings, so all formats meet
the cleaning SQL as the same ``extract`` view.

Two readers, same result:

- **fast** (CSV/TSV): DuckDB's CSV parser splits the fields (quotes honoured). Rows are
  aligned with physical lines by position (:mod:`ingest.lines` counts lines and finds empty
  ones): the k-th parsed row is the k-th line that is not the header, not empty and not
  rejected by the parser. Lines the parser rejects (too few / too many fields, stray
  quotes) and rows whose fields are all blank go through the slow reader, with their raw
  text; a quoted field spanning lines breaks the alignment, is caught by comparing counts,
  and sends that whole file to the RFC 4180 record reader (:func:`_records`: one row per
  record, numbered by its first line, so rows read counts records). ``raw`` is left NULL
  and fetched for the rejected rows only, after cleaning (:func:`attach_raw`).
- **slow** (whitespace format, fallback): DuckDB reads each file as whole lines (no
  quoting, one column), which keeps blank and malformed lines in place; the split into
  fields is SQL (:func:`ingest.sql.split_fields`).

The rows need not be stored as raw fields: ``read_extract(..., row_sql=...)`` runs a
query that decides each row from its own fields (the transaction stage's reject rules,
:func:`ingest.clean.transaction_rows`) on the CSV parser's output as it streams, so each
file's table holds classified rows and only the checks across rows (duplicate ids) run
afterwards. A file smaller than DuckDB's CSV buffer is scanned by one thread, so
:data:`PARALLEL_FILES` files are read at a time, each on its own cursor.

``tests/test_ingest_fast.py`` checks that both readers give identical accepted rows and
rejects, and that the streamed classification equals cleaning the raw view.
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np

from ingest import sql
from ingest.decode import NATIVE, decode_pool, file_size, find_decode_error, transcode_to_utf8
from ingest.lines import fetch_lines, scan_lines
from ingest.mapping import Mapping
from kequn.errors import UserError
from kequn.log import get_logger, progress

log = get_logger("ingest")

#: a byte that never occurs in text extracts, so DuckDB reads each line as one column
LINE_DELIMITER = "\x1f"


def resolve_files(mapping: Mapping) -> list[Path]:
    """The files the mapping's globs match, in glob order then name order, without repeats."""
    found: list[Path] = []
    for pattern in mapping.files:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise UserError(f"{mapping.path}: files: '{pattern}' matches no file")
        else:
            if not Path(pattern).is_file():
                raise UserError(f"{mapping.path}: files: '{pattern}' not found")
            matches = [pattern]
        found.extend(Path(m) for m in matches if Path(m) not in found)
    return found


def allowed_roots(value, project_root: Path | None = None) -> tuple[Path, ...]:
    """The folders ingest may read: the project root plus ``ingest.allowed_roots``.

    Parameters
    ----------
    value : list of str or None
        ``params.yaml`` ``ingest.allowed_roots``: folders outside the project (absolute, or
        relative to the project root) whose files a mapping may name.
    project_root : Path, optional
        The project root; the working directory by default (``dvc repro`` runs there).

    Returns
    -------
    tuple of Path
        Resolved folders, the project root first.
    """
    root = Path(os.path.abspath(project_root or Path.cwd()))
    if value in (None, ""):
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UserError(
            f"params.yaml: ingest.allowed_roots={value!r} must be a list of folder paths"
        )
    roots = [root]
    for folder in value:
        resolved = Path(os.path.abspath(root / folder))
        if not resolved.is_dir():
            raise UserError(f"params.yaml: ingest.allowed_roots: '{folder}' is not a folder")
        roots.append(resolved)
    return tuple(roots)


def refuse_outside(files: list[Path], roots: tuple[Path, ...], mapping: Mapping) -> None:
    """Raise when a file's absolute path (``..`` collapsed) is outside every root.

    Symbolic links inside the project are followed without a check: placing one is a
    deliberate choice of the project (a data folder on a shared drive), unlike a path in
    a mapping. Checked before anything is read, so nothing of such a file reaches an error message,
    the log or ``rejects.csv``.
    """
    for path in files:
        resolved = Path(os.path.abspath(path))
        if not any(resolved.is_relative_to(root) for root in roots):
            raise UserError(
                f"{mapping.path}: files: '{path}' is outside the project ({roots[0]}); "
                f"list its folder in params.yaml ingest.allowed_roots to read it"
            )


def untracked_patterns(patterns, deps) -> list[str]:
    """The file patterns that no DVC dependency covers.

    A pattern is covered when the folder part before its first glob character (or the
    file itself) lies under one of ``deps`` (the ingest stage's ``deps`` in dvc.yaml), so
    that a change to any file it can match reruns the stage.

    Parameters
    ----------
    patterns : iterable of str
        A mapping's ``files`` (globs relative to the project root).
    deps : iterable of str
        DVC dependency paths (files or folders, relative to the project root).

    Returns
    -------
    list of str
        The patterns not covered, in their order.
    """
    dep_paths = [Path(os.path.normpath(d)) for d in deps]
    missing = []
    for pattern in patterns:
        if "://" in pattern:
            continue  # a remote URI: DVC does not track it
        fixed = []
        for part in Path(os.path.normpath(pattern)).parts:
            if glob.has_magic(part):
                break
            fixed.append(part)
        prefix = Path(*fixed) if fixed else Path(".")
        if not any(prefix == d or prefix.is_relative_to(d) for d in dep_paths):
            missing.append(pattern)
    return missing


def split_header(line: str, mapping: Mapping) -> list[str]:
    """The column names in a header line (quotes honoured, blanks stripped)."""
    line = line.lstrip("\ufeff").rstrip("\r\n")
    if mapping.format == "whitespace":
        return line.split()
    if mapping.format == "fixed":
        starts = [sum(mapping.widths[:i]) for i in range(len(mapping.widths))]
        return [line[s : s + w].strip() for s, w in zip(starts, mapping.widths, strict=True)]
    delimiter = "\t" if mapping.format == "tsv" else mapping.delimiter
    fields = next(csv.reader([line], delimiter=delimiter), [])
    return [f.strip() for f in fields]


def column_positions(mapping: Mapping, header: list[str] | None, source: Path) -> dict[str, int]:
    """Role -> 0-based field position, from the header names or the mapped positions."""
    if header is None:
        return {role: int(ref) for role, ref in mapping.source_columns.items()}
    positions = {}
    for role, name in mapping.source_columns.items():
        if name not in header:
            found = ", ".join(header) if header else "(none)"
            raise UserError(
                f"{source}: column '{name}' (mapped as {role} in {mapping.path}) not found; "
                f"columns found: {found}"
            )
        positions[role] = header.index(name)
    return positions


def _read_lines(con: duckdb.DuckDBPyConnection, text_file: Path, table: str) -> None:
    """Load ``text_file`` (UTF-8) into ``table(line, raw)``, one row per physical line."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table}_raw AS SELECT raw FROM read_csv("
        f"{sql.literal(str(text_file))}, columns={{'raw': 'VARCHAR'}}, header=false, "
        f"delim={sql.literal(LINE_DELIMITER)}, quote='', escape='', auto_detect=false, "
        f"strict_mode=false)"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT rowid + 1 AS line, raw FROM {table}_raw"
    )
    con.execute(f"DROP TABLE {table}_raw")


def _first_line(text_file: Path, path: Path, mapping: Mapping) -> str:
    with open(text_file, "rb") as handle:
        first = handle.readline()
    try:
        return first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _cannot_read(path, mapping, exc) from None


def _excel_to_csv(path: Path, target: Path) -> None:
    # pandas only for XLSX: importing it costs a CSV-only ingest about 0.25 s of start-up
    import pandas as pd

    sheet = pd.read_excel(path, header=None, dtype=str, engine="openpyxl")
    sheet.to_csv(target, header=False, index=False, encoding="utf-8", lineterminator="\n")


#: file name endings read as compressed: gzip, or a zip archive of one file
COMPRESSED = (".gz", ".zip")


def decompress(path: Path, tmp: Path, stem: str) -> Path:
    """``path`` itself, or for a ``.gz`` / ``.zip`` (one member) file its content
    unpacked into ``tmp`` (streamed: memory does not grow with the file).

    Parameters
    ----------
    path : Path
        The file a mapping names.
    tmp : Path
        A folder for the unpacked copy.
    stem : str
        The unpacked copy's name.

    Returns
    -------
    Path
        The file to read.
    """
    import gzip
    import zipfile

    suffix = path.suffix.lower()
    if suffix not in COMPRESSED:
        return path
    target = tmp / f"{stem}.unpacked"
    try:
        if suffix == ".gz":
            with gzip.open(path, "rb") as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            return target
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise UserError(
                    f"{path}: a zip archive must hold exactly one file, found {len(members)}"
                )
            with archive.open(members[0]) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: cannot unpack: {str(exc).splitlines()[0]}") from None
    return target


def _text_file(path: Path, mapping: Mapping, tmp: Path, stem: str, pool=None) -> tuple[Path, str]:
    """The UTF-8 text of one text/Excel file (itself, or a converted copy) and its format;
    ``pool``: processes that decode a large file's pieces (:func:`ingest.decode.decode_pool`)."""
    path = decompress(path, tmp, stem)
    if mapping.format == "excel":
        text_file = tmp / f"{stem}.csv"
        try:
            _excel_to_csv(path, text_file)
        except Exception as exc:  # openpyxl raises many types for a bad workbook
            raise UserError(f"{path}: cannot read as an Excel workbook: {exc}") from None
        return text_file, "csv"
    if mapping.encoding in NATIVE:
        return path, mapping.format
    target = tmp / f"{stem}.txt"
    return transcode_to_utf8(path, mapping.encoding, target, pool), mapping.format


def _cannot_read(path: Path, mapping: Mapping, exc: Exception) -> UserError:
    find_decode_error(path, mapping.encoding)  # raises with the byte offset when it is that
    return UserError(f"{path}: cannot read: {str(exc).splitlines()[0]}")


@dataclass(frozen=True)
class Layout:
    """Where the mapped fields sit in one text file and how many fields a row must have."""

    fmt: str
    delimiter: str
    header_lines: int
    positions: dict[str, int]
    n_min: int
    n_max: int | None
    n_columns: int  # fields per row the fast parser expects
    widths: tuple[int, ...] = ()  # format fixed: each field's characters


def _layout(text_file: Path, path: Path, mapping: Mapping, fmt: str) -> Layout:
    first = _first_line(text_file, path, mapping)
    header = None
    if mapping.header:
        if not first.strip():
            raise UserError(
                f"{path}: empty file or blank first line, but the mapping says header: true"
            )
        header = split_header(first, mapping if fmt == mapping.format else _as_csv(mapping))
    positions = column_positions(mapping, header, path)
    delimiter = "\t" if fmt == "tsv" else mapping.delimiter if fmt == "csv" else ","
    n_min = len(header) if header is not None else max(positions.values()) + 1
    n_max = len(header) if header is not None else None
    if fmt == "fixed":
        n_max = len(mapping.widths)
    if header is not None:
        n_columns = len(header)
    elif fmt == "whitespace":
        n_columns = n_min
    else:
        n_columns = max(n_min, len(split_header(first, _as_csv(mapping, delimiter))))
    return Layout(
        fmt, delimiter, int(mapping.header), positions, n_min, n_max, n_columns, mapping.widths
    )


def _insert_split_lines(
    con: duckdb.DuckDBPyConnection,
    lines: str,
    file_id: int,
    path: Path,
    layout: Layout,
    roles: tuple[str, ...],
    name: str,
) -> None:
    """The slow path: split each ``lines(line, raw)`` row into fields with SQL, insert them."""
    fields, n_fields, values, only_delimiters = sql.split_parts(
        layout.fmt, layout.delimiter, layout.widths, layout.positions, roles
    )
    n_max = "NULL" if layout.n_max is None else str(layout.n_max)
    con.execute(
        f"""INSERT INTO {name}
        SELECT {file_id} AS file_id, line, raw,
               {n_fields} AS n_fields,
               {layout.n_min} AS n_min, {n_max} AS n_max,
               {values}
        FROM (SELECT line, raw, {fields} AS fields FROM {lines}
              WHERE line > {layout.header_lines} AND raw IS NOT NULL
                AND NOT ({only_delimiters}))"""
    )


def _from_arrays(con: duckdb.DuckDBPyConnection, target: str, columns: dict, insert=False):
    """Create (or, with ``insert``, append to) the table ``target`` from NumPy columns,
    ``name -> (SQL type, array)``. DuckDB scans a dict of arrays without importing pandas,
    which registering an Arrow table does (about 0.35 s of a CSV-only ingest)."""
    frame = {name: values for name, (_, values) in columns.items()}
    view = f"{target}_arrays"
    con.register(view, frame)
    casts = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, (kind, _) in columns.items())
    if insert:
        con.execute(f"INSERT INTO {target} SELECT {casts} FROM {view}")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT {casts} FROM {view}")
    con.unregister(view)


#: records per batch handed to DuckDB by :func:`_insert_records`
RECORD_BATCH = 100_000


def _records(text_file: Path, layout: Layout):
    """(first line, raw text, fields) of every RFC 4180 record of a UTF-8 CSV file.

    A quoted field may hold delimiters, doubled quotes and line breaks: such a record is
    one record whose ``raw`` is its physical lines joined, numbered by its first line.
    Blank lines and lines of only delimiters are skipped, as the line reader skips them.
    """
    consumed: list[str] = []

    def lines(handle):
        for line in handle:
            consumed.append(line)
            yield line

    with open(text_file, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(lines(handle), delimiter=layout.delimiter, quotechar='"', strict=False)
        start = 1
        for fields in reader:
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            first, start = start, reader.line_num + 1
            if first <= layout.header_lines or not raw.replace(layout.delimiter, "").strip(" "):
                continue
            yield first, raw, fields


def _insert_records(
    con: duckdb.DuckDBPyConnection,
    file_id: int,
    text_file: Path,
    layout: Layout,
    roles: tuple[str, ...],
    name: str,
) -> None:
    """Insert the RFC 4180 records of ``text_file`` (:func:`_records`) into ``name``, in
    batches of :data:`RECORD_BATCH` (memory bounded by a batch, not by the file)."""
    n_max = None if layout.n_max is None else layout.n_max
    batch: list[tuple[int, str, list[str]]] = []

    def flush() -> None:
        def text(values) -> np.ndarray:
            return np.array(values, dtype=object)

        columns = {
            "file_id": ("INTEGER", np.full(len(batch), file_id, dtype=np.int32)),
            "line": ("BIGINT", np.array([b[0] for b in batch], dtype=np.int64)),
            "raw": ("VARCHAR", text([b[1] for b in batch])),
            "n_fields": ("INTEGER", np.array([len(b[2]) for b in batch], dtype=np.int32)),
            "n_min": ("INTEGER", np.full(len(batch), layout.n_min, dtype=np.int32)),
            "n_max": ("INTEGER", text([n_max] * len(batch))),
        }
        for role in roles:
            pos = layout.positions.get(role)
            columns[role] = (
                "VARCHAR",
                text([b[2][pos] if pos is not None and pos < len(b[2]) else None for b in batch]),
            )
        _from_arrays(con, name, columns, insert=True)
        batch.clear()

    for record in _records(text_file, layout):
        batch.append(record)
        if len(batch) >= RECORD_BATCH:
            flush()
    if batch:
        flush()


def _lines_table(con: duckdb.DuckDBPyConnection, table: str, text_file: Path, lines) -> None:
    """``table(line, raw)`` holding just the given 1-based ``lines`` of ``text_file``."""
    lines = np.asarray(sorted(lines), dtype=np.int64)
    raw = np.array(fetch_lines(text_file, lines), dtype=object)
    _from_arrays(con, table, {"line": ("BIGINT", lines), "raw": ("VARCHAR", raw)})


def raw_rows(source: str, carry: tuple[str, ...]) -> str:
    """The default ``row_sql`` of :func:`read_extract`: the raw fields as read."""
    return f"SELECT * FROM {source}"


def all_blank_test(columns: list[str]) -> str:
    """Expression: every field of the row is NULL or blank (DuckDB's ``trim``).

    The first field decides most rows alone (a CASE evaluates the rest only where it is
    blank), so a row with data costs one ``trim``, not one per field.
    """
    blank = [f"coalesce(trim({c}), '') = ''" for c in columns]
    if len(blank) == 1:
        return blank[0]
    return f"CASE WHEN NOT {blank[0]} THEN FALSE ELSE {' AND '.join(blank[1:])} END"


def _numbered(con: duckdb.DuckDBPyConnection, table: str, skipped: np.ndarray, h: int) -> str:
    """SELECT of ``table``'s rows with ``line`` set from their position (see
    :func:`_insert_parsed_file`); ``skipped``: the lines no parsed row comes from."""
    # line of the k-th (0-based) parsed row: k + h + 1 + #{i : s_i - h - i <= k}, i 1-based
    if not len(skipped):
        return f"SELECT * REPLACE (rowid + {h + 1} AS line) FROM {table}"
    thresholds = skipped - h - np.arange(1, len(skipped) + 1)
    steps = {"t": ("BIGINT", thresholds), "j": ("BIGINT", np.arange(1, len(skipped) + 1))}
    _from_arrays(con, f"{table}_skips", steps)
    con.execute(
        f"CREATE OR REPLACE TABLE {table}_steps AS "
        f"SELECT t, max(j) AS j FROM {table}_skips GROUP BY t"
    )
    con.execute(f"DROP TABLE {table}_skips")
    return (
        f"SELECT * EXCLUDE (k, t, j) REPLACE (k + {h + 1} + coalesce(j, 0) AS line) "
        f"FROM (SELECT rowid AS k, * FROM {table}) AS p "
        f"ASOF LEFT JOIN {table}_steps AS s ON p.k >= s.t"
    )


def parsed_source(
    file_id: int, text_file: Path, layout: Layout, roles: tuple[str, ...], rejects: str
) -> str:
    """The fast path's source: DuckDB's CSV parser over ``text_file`` giving the columns of
    :func:`read_extract`'s rows (``line`` NULL until numbered) and ``all_blank``; the
    lines it rejects are recorded in the tables ``rejects`` and ``<rejects>_scan``."""
    columns = [f"c{i}" for i in range(layout.n_columns)]
    spec = ", ".join(f"{sql.literal(c)}: 'VARCHAR'" for c in columns)
    picked = ", ".join(
        f"c{layout.positions[role]} AS {role}"
        if role in layout.positions
        else f"CAST(NULL AS VARCHAR) AS {role}"
        for role in roles
    )
    n_max = "NULL" if layout.n_max is None else layout.n_max
    return (
        f"(SELECT {file_id} AS file_id, CAST(NULL AS BIGINT) AS line, "
        f"CAST(NULL AS VARCHAR) AS raw, {layout.n_columns} AS n_fields, "
        f"{layout.n_min} AS n_min, CAST({n_max} AS INTEGER) AS n_max, {picked}, "
        f"{all_blank_test(columns)} AS all_blank "
        f"FROM read_csv({sql.literal(str(text_file))}, columns={{{spec}}}, "
        f"header={str(bool(layout.header_lines)).lower()}, "
        f"delim={sql.literal(layout.delimiter)}, quote='\"', escape='\"', "
        f"auto_detect=false, strict_mode=true, store_rejects=true, "
        f"rejects_table='{rejects}', rejects_scan='{rejects}_scan')) AS parsed_rows"
    )


def _insert_parsed_file(
    con: duckdb.DuckDBPyConnection,
    file_id: int,
    path: Path,
    text_file: Path,
    mapping: Mapping,
    layout: Layout,
    roles: tuple[str, ...],
    name: str,
    row_sql=raw_rows,
) -> str | None:
    """The fast path: DuckDB's CSV parser splits the fields; None when it cannot be used.

    ``row_sql(source, carry)`` runs on the parser's output as it streams and its rows are
    kept in their own table; the SELECT returned numbers them (``line``) and drops the
    column ``all_blank`` that ``carry`` names (:func:`read_extract` makes ``name`` a view
    over these SELECTs and the slow path's rows).

    Parsed rows carry no line number, so they are aligned with the file's physical lines:
    the k-th parsed row (the k-th row of the table) is the k-th line that is not the
    header, not empty and not a line the parser rejected. That holds unless a quoted field
    spans lines, which shows as a count mismatch; the caller then falls back to the slow
    path for this file. Lines the parser rejects, and rows whose fields are all blank, go
    through the slow path (so they are classified exactly as before), with their raw text.
    """
    table, rejects = f"{name}_parsed_{file_id}", f"{name}_parse_rejects_{file_id}"
    source = parsed_source(file_id, text_file, layout, roles, rejects)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {row_sql(source, ('all_blank',))}")
    except duckdb.Error as exc:
        raise _cannot_read(path, mapping, exc) from None
    errors = con.execute(
        f"SELECT DISTINCT line, error_type FROM {rejects} ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE {rejects}")
    con.execute(f"DROP TABLE {rejects}_scan")
    if any(kind == "INVALID ENCODING" for _, kind in errors):
        find_decode_error(path, mapping.encoding)
        raise UserError(f"{path}: cannot read: text is not valid UTF-8")
    scan = scan_lines(text_file)
    h = layout.header_lines
    skipped = np.union1d(scan.blank, np.array([line for line, _ in errors], dtype=np.int64))
    skipped = skipped[skipped > h]
    parsed = int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0])
    if scan.lines - h - len(skipped) != parsed:  # a quoted field spans lines: slow path
        con.execute(f"DROP TABLE {table}")
        return None
    numbered = _numbered(con, table, skipped, h)
    blank_rows = [
        row[0] for row in con.execute(f"SELECT line FROM ({numbered}) WHERE all_blank").fetchall()
    ]
    redo = sorted({line for line, _ in errors if line > h} | set(blank_rows))
    if redo:
        lines = f"lines_{table}"
        _lines_table(con, lines, text_file, redo)
        _insert_split_lines(con, lines, file_id, path, layout, roles, f"{name}_rows")
        con.execute(f"DROP TABLE {lines}")
    return f"SELECT * EXCLUDE (all_blank) FROM ({numbered}) WHERE NOT all_blank"


def _insert_text_file(
    con: duckdb.DuckDBPyConnection,
    file_id: int,
    path: Path,
    mapping: Mapping,
    roles: tuple[str, ...],
    text: tuple[Path, str],
    name: str,
    row_sql=raw_rows,
) -> str | None:
    """Read one text/Excel file, already as UTF-8 ``text = (file, format)``, for ``name``.

    Returns, for the fast path, the SELECT giving its parsed rows (the slow path inserts
    into ``<name>_rows`` instead and gives None).
    """
    text_file, fmt = text
    layout = _layout(text_file, path, mapping, fmt)
    if fmt in ("csv", "tsv"):
        rows = _insert_parsed_file(
            con, file_id, path, text_file, mapping, layout, roles, name, row_sql=row_sql
        )
        if rows is not None:
            return rows
        # a quoted field spans lines: read RFC 4180 records, not physical lines
        _insert_records(con, file_id, text_file, layout, roles, f"{name}_rows")
        return None
    table = f"{name}_lines_{file_id}"
    try:
        _read_lines(con, text_file, table)
    except duckdb.InvalidInputException as exc:
        raise _cannot_read(path, mapping, exc) from None
    _insert_split_lines(con, table, file_id, path, layout, roles, f"{name}_rows")
    con.execute(f"DROP TABLE {table}")
    return None


def _as_csv(mapping: Mapping, delimiter: str = ",") -> Mapping:
    return replace(mapping, format="csv", delimiter=delimiter)


def _insert_parquet_file(
    con: duckdb.DuckDBPyConnection,
    file_id: int,
    path: Path,
    mapping: Mapping,
    roles: tuple[str, ...],
    name: str,
) -> None:
    table = f"lines_{file_id}"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT * FROM read_parquet({sql.literal(str(path))})"
        )
    except duckdb.Error as exc:
        raise UserError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    header = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    positions = column_positions(mapping, header, path)
    as_text = [f'CAST("{name}" AS VARCHAR)' for name in header]
    values = ", ".join(
        f"{as_text[positions[role]]} AS {role}"
        if role in positions
        else f"CAST(NULL AS VARCHAR) AS {role}"
        for role in roles
    )
    con.execute(
        f"""INSERT INTO {name}
        SELECT {file_id}, rowid + 1, concat_ws(',', {", ".join(as_text)}),
               {len(header)}, {len(header)}, {len(header)}, {values}
        FROM {table}"""
    )
    con.execute(f"DROP TABLE {table}")


#: files read at the same time: DuckDB scans a file smaller than its CSV buffer, and runs
#: the row rules on it, in one thread, so two files at once keep two cores busy
PARALLEL_FILES = 2


def _read_files(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    mapping: Mapping,
    roles: tuple[str, ...],
    name: str,
    row_sql,
    tmp: Path,
) -> list[tuple[Path | None, str | None]]:
    """Read every file for :func:`read_extract`: (its UTF-8 text file, the fast path's
    SELECT of its rows or None) per file, in file order.

    Files are read :data:`PARALLEL_FILES` at a time, each thread on its own cursor (the
    tables they make are in the database, not connection-local); transcoding (Python) of
    the next files runs meanwhile in one more thread, which hands the pieces of a large
    file to a pool of processes (:func:`ingest.decode.decode_pool`). Errors are raised in
    file order.
    """
    cursors, local = [], threading.local()

    def read_one(file_id: int, path: Path, text):
        if not hasattr(local, "con"):
            local.con = con.cursor()
            cursors.append(local.con)
        if text is None:
            _insert_parquet_file(local.con, file_id, path, mapping, roles, f"{name}_rows")
            return None, None
        text = text.result()
        rows = _insert_text_file(local.con, file_id, path, mapping, roles, text, name, row_sql)
        return text[0], rows

    numbered = progress(
        list(enumerate(files)),
        log,
        "bytes read from the extract files",
        total=sum(file_size(path) for path in files),
        size=lambda item: file_size(item[1]),
    )
    transcoded = mapping.format not in ("parquet", "excel") and mapping.encoding not in NATIVE
    with (
        decode_pool(files if transcoded else [], mapping.encoding) or nullcontext() as pool,
        ThreadPoolExecutor(max_workers=1) as decoding,
        ThreadPoolExecutor(max_workers=PARALLEL_FILES) as reading,
    ):
        texts = [
            None
            if mapping.format == "parquet"
            else decoding.submit(_text_file, path, mapping, tmp, f"{name}_{file_id}", pool)
            for file_id, path in enumerate(files)
        ]
        done = [reading.submit(read_one, i, path, texts[i]) for i, path in enumerate(files)]
        try:
            read = [done[file_id].result() for file_id, _ in numbered]
        except BaseException:
            reading.shutdown(cancel_futures=True)
            decoding.shutdown(cancel_futures=True)
            raise
        finally:
            reading.shutdown()
            for cursor in cursors:
                cursor.close()
    return read


def read_extract(
    mapping: Mapping,
    con: duckdb.DuckDBPyConnection,
    roles: tuple[str, ...],
    name: str = "extract",
    row_sql=raw_rows,
) -> list[Path]:
    """Read every file of ``mapping`` into the DuckDB view ``name``; return the files read.

    The rows read have ``file_id, line, raw, n_fields, n_min, n_max`` and one VARCHAR
    column per role in ``roles`` (NULL when the mapping does not map it). ``line`` is the
    1-based line in the source file (the header is line 1); blank lines are skipped.
    ``raw`` is NULL for rows the fast CSV parser read (:func:`attach_raw` fills it for
    rejects). The view holds ``row_sql(source, carry)`` of those rows: by default
    (:func:`raw_rows`) the rows themselves; a query that decides each row from its own
    fields (:func:`ingest.clean.transaction_rows`) runs on the CSV parser's output as it
    streams, so the raw fields are never stored (it must pass ``file_id, line, raw`` and
    the ``carry`` columns through). ``<name>_files(file_id, source_file, text_file)``
    names each file and the UTF-8 text its lines are in. :func:`drop_extract` frees the
    tables behind the view.
    """
    files = resolve_files(mapping)
    role_columns = ", ".join(f"{role} VARCHAR" for role in roles)
    con.execute(
        f"CREATE OR REPLACE TABLE {name}_rows (file_id INTEGER, line BIGINT, "
        f"raw VARCHAR, n_fields INTEGER, n_min INTEGER, n_max INTEGER, {role_columns})"
    )
    # converted files must outlive this call (rejects fetch their raw lines after cleaning):
    # they go away with the connection
    tmp = Path(tempfile.mkdtemp(prefix="kequn-ingest-"))
    weakref.finalize(con, shutil.rmtree, tmp, ignore_errors=True)
    read = _read_files(con, files, mapping, roles, name, row_sql, tmp)
    text_files = [text for text, _ in read]
    selects = [f"SELECT * FROM {name}_rows"] + [rows for _, rows in read if rows is not None]
    if row_sql is not raw_rows:  # the slow path's rows, through row_sql once
        con.execute(f"CREATE OR REPLACE TABLE {name}_parsed_slow AS {row_sql(f'{name}_rows', ())}")
        selects[0] = f"SELECT * FROM {name}_parsed_slow"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS " + "\nUNION ALL ".join(selects))
    texts = [None if t is None else str(t) for t in text_files]
    listing = {
        "file_id": ("INTEGER", np.arange(len(files), dtype=np.int32)),
        "source_file": ("VARCHAR", np.array([str(f) for f in files], dtype=object)),
        "text_file": ("VARCHAR", np.array(texts, dtype=object)),
    }
    _from_arrays(con, f"{name}_files", listing)
    return files


def drop_extract(con: duckdb.DuckDBPyConnection, name: str = "extract") -> None:
    """Drop the view ``name`` and the tables holding its rows (not ``<name>_files``)."""
    con.execute(f"DROP VIEW IF EXISTS {name}")
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name = ? OR starts_with(table_name, ?)",
        [f"{name}_rows", f"{name}_parsed_"],
    ).fetchall()
    for (table,) in tables:
        con.execute(f"DROP TABLE {table}")


def attach_raw(con: duckdb.DuckDBPyConnection, cleaned: str, source: str = "extract") -> None:
    """Make ``<cleaned>_raw(file_id, line, raw)``: the raw text of the rejected rows of
    ``cleaned`` that the fast reader left without it (see :func:`ingest.sql.rejects_sql`).

    Only rejected rows are shown with their raw text, so the lines are fetched from the
    (UTF-8) files recorded by :func:`read_extract` in ``<source>_files`` once cleaning has
    decided which rows those are.
    """
    text_files = dict(con.execute(f"SELECT file_id, text_file FROM {source}_files").fetchall())
    wanted = con.execute(
        f"SELECT file_id, line FROM {cleaned} WHERE reason IS NOT NULL AND raw IS NULL "
        f"ORDER BY file_id, line"
    ).fetchnumpy()
    file_ids = np.asarray(wanted["file_id"], dtype=np.int32)
    lines = np.asarray(wanted["line"], dtype=np.int64)
    raws: list[str] = []
    for file_id in np.unique(file_ids):
        raws.extend(fetch_lines(Path(text_files[int(file_id)]), lines[file_ids == file_id]))
    columns = {
        "file_id": ("INTEGER", file_ids),
        "line": ("BIGINT", lines),
        "raw": ("VARCHAR", np.array(raws, dtype=object)),
    }
    _from_arrays(con, f"{cleaned}_raw", columns)
