"""The mapping file: how to read one extract format, validated before any data is touched.

A new extract format needs a new YAML mapping, never a code change. Keys::

    files: ["data/raw/txn_*.csv"]        # globs, relative to the working directory
    format: csv                          # csv | tsv | whitespace | excel | parquet
    encoding: gb18030                    # utf-8, utf-8-sig, gb18030, gbk, latin-1, ...
    delimiter: ","                       # csv only (tsv: tab; whitespace: runs of blanks)
    header: true                         # false: columns are 0-based positions
    columns: {customer_id: 客户号, date: 交易日期, amount: 交易金额}
    date_format: "%Y%m%d"                # strptime format
    thousands: ","                       # thousands separator in numbers ("" for none)
    decimal: "."                         # decimal separator
    sign: {column: 借贷标志, negative: [贷]}   # optional debit/credit flag
    filter: {column: 交易状态, keep: [正常]}    # optional row filter
    extract_date: "2025-12-31"           # optional; later dates are rejected (default: today)
    min_date: "1990-01-01"               # optional; earlier dates are rejected (1900-01-01)
    max_id_length: 32                    # optional; longer customer/txn ids are rejected (64)
    non_positive_amounts: keep           # keep | reject | return (negative kept, zero rejected)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.decode import normalise_encoding
from ingest.sql import DEFAULT_MAX_ID_LENGTH, DEFAULT_MIN_DATE, NON_POSITIVE_RULES
from kequn.errors import UserError

FORMATS = ("csv", "tsv", "whitespace", "excel", "parquet")

#: columns of a transaction extract: required, then optional
TRANSACTION_COLUMNS = (("customer_id", "date", "amount"), ("product", "channel", "txn_id"))
#: columns of a client master: required, then optional
CLIENT_COLUMNS = (
    ("customer_id",),
    ("client_type", "industry", "region", "open_date", "asset_balance", "close_date"),
)

KEYS = (
    "files",
    "format",
    "encoding",
    "delimiter",
    "header",
    "columns",
    "date_format",
    "thousands",
    "decimal",
    "sign",
    "filter",
    "extract_date",
    "min_date",
    "max_id_length",
    "non_positive_amounts",
)


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file (see the module docstring for the meaning of each field)."""

    path: str
    files: tuple[str, ...]
    columns: dict[str, str | int]
    format: str = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    header: bool = True
    date_format: str = "%Y-%m-%d"
    thousands: str = ""
    decimal: str = "."
    sign_column: str | int | None = None
    sign_negative: tuple[str, ...] = ()
    filter_column: str | int | None = None
    filter_keep: tuple[str, ...] = ()
    extract_date: dt.date | None = None
    min_date: dt.date = DEFAULT_MIN_DATE
    max_id_length: int = DEFAULT_MAX_ID_LENGTH
    non_positive_amounts: str = "keep"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source_columns(self) -> dict[str, str | int]:
        """Every column read from the file: role -> header name or position."""
        roles = dict(self.columns)
        if self.sign_column is not None:
            roles["sign_flag"] = self.sign_column
        if self.filter_column is not None:
            roles["filter_value"] = self.filter_column
        return roles


def _fail(path: Path, key: str, problem: str) -> UserError:
    return UserError(f"{path}: key '{key}': {problem}")


def _string(path: Path, key: str, value: Any, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _fail(
            path, key, f"expected a {'' if allow_empty else 'non-empty '}string, got {value!r}"
        )
    return value


def _column_ref(path: Path, key: str, value: Any, header: bool) -> str | int:
    if header and isinstance(value, str) and value.strip():
        return value.strip()
    if not header and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    want = "a column name" if header else "a 0-based column position (header: false)"
    raise _fail(path, key, f"expected {want}, got {value!r}")


def _values(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _fail(path, key, f"expected a non-empty list of values, got {value!r}")
    return tuple(str(v).strip() for v in value)


def _flag(path: Path, key: str, value: Any, header: bool, list_key: str):
    if not isinstance(value, dict) or set(value) != {"column", list_key}:
        raise _fail(path, key, f"expected {{column: ..., {list_key}: [...]}}, got {value!r}")
    column = _column_ref(path, f"{key}.column", value["column"], header)
    return column, _values(path, f"{key}.{list_key}", value[list_key])


def _date(path: Path, key: str, value: Any) -> dt.date | None:
    """A YYYY-MM-DD mapping value as a date; None when absent or empty."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _fail(path, key, f"expected YYYY-MM-DD, got {value!r}") from None


def load_mapping(path: str | Path, kind: str = "transactions") -> Mapping:
    """Read and validate a mapping file; ``kind`` is ``"transactions"`` or ``"clients"``.

    Unknown keys, missing required keys and bad values raise a :class:`UserError` naming
    the mapping file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: mapping file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys at the top level")
    unknown = sorted(set(raw) - set(KEYS), key=str)
    if unknown:
        raise _fail(path, str(unknown[0]), f"unknown key; known keys: {', '.join(KEYS)}")
    for key in ("files", "columns"):
        if key not in raw:
            raise _fail(path, key, "required key is missing")

    files = raw["files"]
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise _fail(path, "files", f"expected a list of file names or globs, got {files!r}")

    fmt = raw.get("format", "csv")
    if fmt not in FORMATS:
        raise _fail(path, "format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        encoding = normalise_encoding(_string(path, "encoding", raw.get("encoding", "utf-8")))
    except ValueError as exc:
        raise _fail(
            path, "encoding", f"{exc}; use e.g. utf-8, utf-8-sig, gb18030, gbk, latin-1"
        ) from None
    header = raw.get("header", True)
    if not isinstance(header, bool):
        raise _fail(path, "header", f"expected true or false, got {header!r}")
    if fmt == "parquet" and not header:
        raise _fail(path, "header", "parquet files always have column names; use header: true")
    default_delimiter = {"csv": ",", "tsv": "\t"}.get(fmt, ",")
    delimiter = _string(path, "delimiter", raw.get("delimiter", default_delimiter))
    if fmt in ("csv", "tsv") and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise _fail(path, "delimiter", f"expected one character (not a quote), got {delimiter!r}")

    required, optional = TRANSACTION_COLUMNS if kind == "transactions" else CLIENT_COLUMNS
    columns = raw["columns"]
    if not isinstance(columns, dict):
        raise _fail(path, "columns", f"expected {{role: column}}, got {columns!r}")
    for role in columns:
        if role not in required + optional:
            raise _fail(
                path, f"columns.{role}", f"unknown role; expected {', '.join(required + optional)}"
            )
    for role in required:
        if role not in columns:
            raise _fail(path, f"columns.{role}", "required column is not mapped")
    refs = {
        role: _column_ref(path, f"columns.{role}", ref, header) for role, ref in columns.items()
    }

    date_format = _string(path, "date_format", raw.get("date_format", "%Y-%m-%d"))
    if "%" not in date_format:
        raise _fail(
            path, "date_format", f"expected a strptime format such as %Y%m%d, got {date_format!r}"
        )
    thousands = _string(path, "thousands", raw.get("thousands", "") or "", allow_empty=True)
    decimal = _string(path, "decimal", raw.get("decimal", "."))
    if len(thousands) > 1 or len(decimal) != 1 or thousands == decimal:
        raise _fail(
            path,
            "thousands" if len(thousands) > 1 else "decimal",
            f"expected single, different characters: thousands={thousands!r} decimal={decimal!r}",
        )

    sign_column, negative = (None, ())
    if raw.get("sign") is not None:
        sign_column, negative = _flag(path, "sign", raw["sign"], header, "negative")
    filter_column, keep = (None, ())
    if raw.get("filter") is not None:
        filter_column, keep = _flag(path, "filter", raw["filter"], header, "keep")

    extract_date = _date(path, "extract_date", raw.get("extract_date"))
    min_date = _date(path, "min_date", raw.get("min_date")) or DEFAULT_MIN_DATE
    if extract_date is not None and min_date >= extract_date:
        raise _fail(path, "min_date", f"{min_date} must be before extract_date {extract_date}")
    max_id = raw.get("max_id_length", DEFAULT_MAX_ID_LENGTH)
    if not isinstance(max_id, int) or isinstance(max_id, bool) or max_id < 1:
        raise _fail(path, "max_id_length", f"expected a positive whole number, got {max_id!r}")
    non_positive = raw.get("non_positive_amounts", "keep")
    if non_positive not in NON_POSITIVE_RULES:
        raise _fail(
            path,
            "non_positive_amounts",
            f"expected one of {', '.join(NON_POSITIVE_RULES)}, got {non_positive!r}",
        )

    return Mapping(
        path=str(path),
        files=tuple(files),
        columns=refs,
        format=fmt,
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        date_format=date_format,
        thousands=thousands,
        decimal=decimal,
        sign_column=sign_column,
        sign_negative=negative,
        filter_column=filter_column,
        filter_keep=keep,
        extract_date=extract_date,
        min_date=min_date,
        max_id_length=max_id,
        non_positive_amounts=non_positive,
    )
