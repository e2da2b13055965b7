"""Reading extracts: files matched by the mapping -> one DuckDB table of raw string fields.

Every source line is kept with its 1-based line number and raw text so that a rejected row
can be shown to the analyst exactly as it was. DuckDB reads each file as whole lines (no
quoting, one column), which keeps blank and malformed lines in place; the split into fields
is SQL (:func:`ingest.sql.split_fields`). Non-UTF-8 files are transcoded first
(:mod:`ingest.decode`); Excel sheets are converted to CSV text; Parquet columns are cast to
strings, so all formats meet the cleaning SQL as the same ``extract`` table.
"""

from __future__ import annotations

import csv
import glob
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from ingest import sql
from ingest.decode import NATIVE, find_decode_error, transcode_to_utf8
from ingest.mapping import Mapping
from kequn.errors import UserError

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


def split_header(line: str, mapping: Mapping) -> list[str]:
    """The column names in a header line (quotes honoured, blanks stripped)."""
    line = line.lstrip("\ufeff").rstrip("\r\n")
    if mapping.format == "whitespace":
        return line.split()
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


def _first_line(text_file: Path) -> str:
    with open(text_file, encoding="utf-8-sig", newline="") as handle:
        return handle.readline()


def _excel_to_csv(path: Path, target: Path) -> None:
    sheet = pd.read_excel(path, header=None, dtype=str, engine="openpyxl")
    sheet.to_csv(target, header=False, index=False, encoding="utf-8", lineterminator="\n")


def _load_text_file(
    con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping, table: str, tmp: Path
) -> tuple[Path, str]:
    """Bring one text/Excel file into ``table(line, raw)``; return the UTF-8 file and format."""
    fmt = mapping.format
    if fmt == "excel":
        text_file, fmt = tmp / f"{table}.csv", "csv"
        try:
            _excel_to_csv(path, text_file)
        except Exception as exc:  # openpyxl raises many types for a bad workbook
            raise UserError(f"{path}: cannot read as an Excel workbook: {exc}") from None
    elif mapping.encoding in NATIVE:
        text_file = path
    else:
        text_file = transcode_to_utf8(path, mapping.encoding, tmp / f"{table}.txt")
    try:
        _read_lines(con, text_file, table)
    except duckdb.InvalidInputException as exc:
        find_decode_error(path, mapping.encoding)  # raises with the byte offset when it is that
        raise UserError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    return text_file, fmt


def _insert_text_file(
    con: duckdb.DuckDBPyConnection,
    file_id: int,
    path: Path,
    mapping: Mapping,
    roles: tuple[str, ...],
    tmp: Path,
    name: str,
) -> None:
    table = f"lines_{file_id}"
    text_file, fmt = _load_text_file(con, path, mapping, table, tmp)
    header = None
    if mapping.header:
        first = _first_line(text_file)
        if not first.strip():
            raise UserError(
                f"{path}: empty file or blank first line, but the mapping says header: true"
            )
        header = split_header(first, mapping if fmt == mapping.format else _as_csv(mapping))
    positions = column_positions(mapping, header, path)
    n_min = len(header) if header is not None else max(positions.values()) + 1
    n_max = str(len(header)) if header is not None else "NULL"
    delimiter = "\t" if fmt == "tsv" else mapping.delimiter if fmt == "csv" else ","
    fields = sql.split_fields(fmt, delimiter)
    values = ", ".join(
        sql.unquote(f"fields[{positions[role] + 1}]") + f" AS {role}"
        if role in positions
        else f"CAST(NULL AS VARCHAR) AS {role}"
        for role in roles
    )
    only_delimiters = (
        "trim(raw) = ''"
        if fmt == "whitespace"
        else f"trim(replace(raw, {sql.literal(delimiter)}, '')) = ''"
    )
    con.execute(
        f"""INSERT INTO {name}
        SELECT {file_id} AS file_id, {sql.literal(str(path))} AS source_file, line, raw,
               CAST(array_length(fields) AS INTEGER) AS n_fields,
               {n_min} AS n_min, {n_max} AS n_max,
               {values}
        FROM (SELECT line, raw, {fields} AS fields FROM {table}
              WHERE line > {int(mapping.header)} AND raw IS NOT NULL
                AND NOT ({only_delimiters}))"""
    )
    con.execute(f"DROP TABLE {table}")


def _as_csv(mapping: Mapping) -> Mapping:
    from dataclasses import replace

    return replace(mapping, format="csv", delimiter=",")


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
        SELECT {file_id}, {sql.literal(str(path))}, rowid + 1, concat_ws(',', {", ".join(as_text)}),
               {len(header)}, {len(header)}, {len(header)}, {values}
        FROM {table}"""
    )
    con.execute(f"DROP TABLE {table}")


def read_extract(
    mapping: Mapping, con: duckdb.DuckDBPyConnection, roles: tuple[str, ...], name: str = "extract"
) -> list[Path]:
    """Read every file of ``mapping`` into the DuckDB table ``name``; return the files read.

    The table has ``file_id, source_file, line, raw, n_fields, n_min, n_max`` and one
    VARCHAR column per role in ``roles`` (NULL when the mapping does not map it). ``line``
    is the 1-based line in the source file (the header is line 1); blank lines are skipped.
    """
    files = resolve_files(mapping)
    role_columns = ", ".join(f"{role} VARCHAR" for role in roles)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} (file_id INTEGER, source_file VARCHAR, line BIGINT, "
        f"raw VARCHAR, n_fields INTEGER, n_min INTEGER, n_max INTEGER, {role_columns})"
    )
    with tempfile.TemporaryDirectory(prefix="kequn-ingest-") as tmp:
        for file_id, path in enumerate(files):
            if mapping.format == "parquet":
                _insert_parquet_file(con, file_id, path, mapping, roles, name)
            else:
                _insert_text_file(con, file_id, path, mapping, roles, Path(tmp), name)
    return files
