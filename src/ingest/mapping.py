"""The mapping file: how to read one extract format, validated before any data is touched.

A new extract format needs a new YAML mapping, never a code change. Keys::

    files: ["data/raw/txn_*.csv"]        # globs, relative to the working directory
    format: csv                          # csv | tsv | whitespace | excel | parquet | fixed
    widths: [10, 8, 12]                  # fixed only: the characters of each field, in order
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
                                         # | net (returns netted off the purchase: ingest.netting)
    amount: {multiply: [Quantity, UnitPrice]}   # instead of columns.amount: a x b, or
                                         # {subtract: [借方, 贷方]} (a blank side counts as 0)
    exclude:                             # rows expected to be unusable: counted apart
      - {column: CustomerID, blank: true}          # (rows_excluded), not rejects, and
      - {column: InvoiceNo, prefix: C}             # not against max_reject_rate; also
                                                   # regex: ..., below: 0, above: n, in: [..]
    group_lines: true                    # lines sharing txn_id (and customer, date) are one
                                         # transaction: amounts summed, not duplicate_txn_id
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.decode import normalise_encoding
from ingest.sql import DEFAULT_MAX_ID_LENGTH, DEFAULT_MIN_DATE, NON_POSITIVE_RULES
from kequn.errors import UserError

#: ``non_positive_amounts``: the cleaning query's rules, and ``net`` (:mod:`ingest.netting`)
NON_POSITIVE_CHOICES = (*NON_POSITIVE_RULES, "net")
FORMATS = ("csv", "tsv", "whitespace", "excel", "parquet", "fixed")

#: columns of a transaction extract: required, then optional
TRANSACTION_COLUMNS = (("customer_id", "date", "amount"), ("product", "channel", "txn_id"))
#: columns of a client master: required, then optional
CLIENT_COLUMNS = (
    ("customer_id",),
    (
        "client_type",
        "industry",
        "region",
        "open_date",
        "asset_balance",
        "close_date",
        "branch",
        "branch_name",
        "relationship_manager",
    ),
)

#: columns of a balance-snapshot extract: required, then optional
BALANCE_COLUMNS = (("customer_id", "date", "balance"), ("product",))
#: columns of a service-event extract: required, then optional
EVENT_COLUMNS = (
    ("customer_id", "date", "type"),
    ("event_id", "severity", "score", "resolved_date"),
)
#: the columns of each kind of extract
KIND_COLUMNS = {
    "transactions": TRANSACTION_COLUMNS,
    "clients": CLIENT_COLUMNS,
    "balances": BALANCE_COLUMNS,
    "events": EVENT_COLUMNS,
}

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
    "amount",
    "exclude",
    "group_lines",
    "widths",
    "values",
)

#: the most ``exclude`` rules a mapping may have (each reads one column)
MAX_EXCLUDE = 4
#: the kinds of ``exclude`` rule
EXCLUDE_KINDS = ("blank", "prefix", "regex", "below", "above", "in")
#: header words that mean a per-unit price, not a line amount
PRICE_WORDS = ("price", "单价", "unitprice", "unit_price")


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
    amount_op: str | None = None
    amount_second: str | int | None = None
    exclude: tuple[tuple[str | int, str, Any], ...] = ()
    group_lines: bool = False
    widths: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source_columns(self) -> dict[str, str | int]:
        """Every column read from the file: role -> header name or position."""
        roles = dict(self.columns)
        if self.sign_column is not None:
            roles["sign_flag"] = self.sign_column
        if self.filter_column is not None:
            roles["filter_value"] = self.filter_column
        if self.amount_second is not None:
            roles["amount_b"] = self.amount_second
        for i, (column, _, _) in enumerate(self.exclude):
            roles[f"exclude_{i}"] = column
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
    """Read and validate a mapping file.

    Unknown keys, missing required keys and bad values raise a :class:`UserError` naming
    the mapping file and the key. The keys are checked in the order of the module
    docstring, so the first problem in the file is the one reported.

    Parameters
    ----------
    path : str or Path
        The YAML mapping file.
    kind : str
        The kind of extract, a key of :data:`KIND_COLUMNS` (``transactions``, ``clients``,
        ``balances`` or ``events``); it sets which column roles are required and allowed.

    Returns
    -------
    Mapping
        The validated mapping.
    """
    path = Path(path)
    raw = _read_raw(path)
    fields: dict[str, Any] = {"files": _files(path, raw["files"])}
    fields.update(_layout(path, raw))
    header = fields["header"]
    fields.update(_columns(path, raw, kind, header))
    fields.update(_number_formats(path, raw))
    fields.update(_flags(path, raw, header))
    fields.update(_limits(path, raw))
    fields["exclude"] = _exclude_rules(path, raw.get("exclude"), header)
    fields["widths"] = _widths(path, raw.get("widths"), fields["format"])
    fields["group_lines"] = _group_lines(path, raw.get("group_lines", False), fields["columns"])
    fields["extra"] = {"values": _value_maps(path, raw.get("values"), fields["columns"])}
    return Mapping(path=str(path), **fields)


def _read_raw(path: Path) -> dict:
    """The mapping file's top-level keys, after checking they are all known and the
    required ones are present."""
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
    return raw


def _files(path: Path, files: Any) -> tuple[str, ...]:
    """``files``: one glob or a non-empty list of them."""
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise _fail(path, "files", f"expected a list of file names or globs, got {files!r}")
    return tuple(files)


def _layout(path: Path, raw: dict) -> dict[str, Any]:
    """``format``, ``encoding``, ``header`` and ``delimiter``: how the file is laid out."""
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
    return {"format": fmt, "encoding": encoding, "header": header, "delimiter": delimiter}


def _columns(path: Path, raw: dict, kind: str, header: bool) -> dict[str, Any]:
    """``columns`` (and ``amount``): role -> column reference, every required role mapped,
    plus the amount expression when the amount is computed from two columns."""
    required, optional = KIND_COLUMNS[kind]
    columns = raw["columns"]
    if not isinstance(columns, dict):
        raise _fail(path, "columns", f"expected {{role: column}}, got {columns!r}")
    for role in columns:
        if role not in required + optional:
            raise _fail(
                path, f"columns.{role}", f"unknown role; expected {', '.join(required + optional)}"
            )
    amount_op, amount_second = None, None
    if kind == "transactions" and raw.get("amount") is not None:
        if "amount" in columns:
            raise _fail(path, "amount", "give either columns.amount or amount, not both")
        amount_op, first, amount_second = _amount_expression(path, raw["amount"], header)
        columns = {**columns, "amount": first}
    for role in required:
        if role not in columns:
            raise _fail(path, f"columns.{role}", "required column is not mapped")
    if amount_op is None:
        _reject_unit_price(path, columns.get("amount"))
    refs = {
        role: _column_ref(path, f"columns.{role}", ref, header) for role, ref in columns.items()
    }
    return {"columns": refs, "amount_op": amount_op, "amount_second": amount_second}


def _reject_unit_price(path: Path, amount_ref: Any) -> None:
    """Refuse a ``columns.amount`` whose header names a per-unit price."""
    if not isinstance(amount_ref, str):
        return
    if any(word in amount_ref.lower().replace(" ", "") for word in PRICE_WORDS):
        raise _fail(
            path,
            "columns.amount",
            f"'{amount_ref}' looks like a unit price, not a line amount; use "
            f"amount: {{multiply: [<quantity column>, {amount_ref}]}}",
        )


def _number_formats(path: Path, raw: dict) -> dict[str, str]:
    """``date_format``, ``thousands`` and ``decimal``: how dates and numbers are written."""
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
    return {"date_format": date_format, "thousands": thousands, "decimal": decimal}


def _flags(path: Path, raw: dict, header: bool) -> dict[str, Any]:
    """``sign`` and ``filter``: the optional debit/credit flag and row filter."""
    sign_column, negative = (None, ())
    if raw.get("sign") is not None:
        sign_column, negative = _flag(path, "sign", raw["sign"], header, "negative")
    filter_column, keep = (None, ())
    if raw.get("filter") is not None:
        filter_column, keep = _flag(path, "filter", raw["filter"], header, "keep")
    return {
        "sign_column": sign_column,
        "sign_negative": negative,
        "filter_column": filter_column,
        "filter_keep": keep,
    }


def _limits(path: Path, raw: dict) -> dict[str, Any]:
    """``extract_date``, ``min_date``, ``max_id_length`` and ``non_positive_amounts``: the
    bounds past which a row is rejected."""
    extract_date = _date(path, "extract_date", raw.get("extract_date"))
    min_date = _date(path, "min_date", raw.get("min_date")) or DEFAULT_MIN_DATE
    if extract_date is not None and min_date >= extract_date:
        raise _fail(path, "min_date", f"{min_date} must be before extract_date {extract_date}")
    max_id = raw.get("max_id_length", DEFAULT_MAX_ID_LENGTH)
    if not isinstance(max_id, int) or isinstance(max_id, bool) or max_id < 1:
        raise _fail(path, "max_id_length", f"expected a positive whole number, got {max_id!r}")
    non_positive = raw.get("non_positive_amounts", "keep")
    if non_positive not in NON_POSITIVE_CHOICES:
        raise _fail(
            path,
            "non_positive_amounts",
            f"expected one of {', '.join(NON_POSITIVE_CHOICES)}, got {non_positive!r}",
        )
    return {
        "extract_date": extract_date,
        "min_date": min_date,
        "max_id_length": max_id,
        "non_positive_amounts": non_positive,
    }


def _widths(path: Path, widths: Any, fmt: str) -> tuple[int, ...]:
    """``widths``: the field widths of a fixed-width file, given for it and only for it."""
    if (fmt == "fixed") != (widths is not None):
        raise _fail(path, "widths", "format: fixed needs widths, and only it takes them")
    if widths is not None and (
        not isinstance(widths, list)
        or not widths
        or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths)
    ):
        raise _fail(path, "widths", f"expected a list of positive whole numbers, got {widths!r}")
    return tuple(widths or ())


def _group_lines(path: Path, group_lines: Any, refs: dict) -> bool:
    """``group_lines``: a boolean, and only with a mapped ``txn_id``."""
    if not isinstance(group_lines, bool):
        raise _fail(path, "group_lines", f"expected true or false, got {group_lines!r}")
    if group_lines and "txn_id" not in refs:
        raise _fail(path, "group_lines", "needs columns.txn_id (the id the lines share)")
    return group_lines


def _value_maps(path: Path, value: Any, refs: dict) -> dict[str, dict[str, str]]:
    """``values: {role: {canonical: [value in the file, ...]}}`` -> {role: {file value:
    canonical}}; a file value listed twice, or a role not mapped, is an error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, "values", f"expected {{role: {{canonical: [values]}}}}, got {value!r}")
    maps: dict[str, dict[str, str]] = {}
    for role, table in value.items():
        if role not in refs:
            raise _fail(path, f"values.{role}", "the role is not mapped in columns")
        if not isinstance(table, dict) or not table:
            raise _fail(path, f"values.{role}", f"expected {{canonical: [values]}}, got {table!r}")
        maps[role] = {}
        for canonical, raws in table.items():
            for raw_value in _values(path, f"values.{role}.{canonical}", raws):
                if raw_value in maps[role]:
                    raise _fail(path, f"values.{role}", f"'{raw_value}' is listed twice")
                maps[role][raw_value] = str(canonical)
    return maps


def _amount_expression(path: Path, value: Any, header: bool):
    """``amount: {multiply|subtract: [a, b]}`` -> (op, a, b)."""
    if (
        not isinstance(value, dict)
        or len(value) != 1
        or next(iter(value)) not in ("multiply", "subtract")
        or not isinstance(next(iter(value.values())), list)
        or len(next(iter(value.values()))) != 2
    ):
        raise _fail(
            path, "amount", f"expected {{multiply: [a, b]}} or {{subtract: [a, b]}}, got {value!r}"
        )
    op, (a, b) = next(iter(value.items()))
    return (
        op,
        _column_ref(path, f"amount.{op}", a, header),
        _column_ref(path, f"amount.{op}", b, header),
    )


def _exclude_rules(path: Path, value: Any, header: bool) -> tuple:
    """``exclude: [{column: c, <kind>: v}, ...]`` -> ((column, kind, value), ...)."""
    if value in (None, []):
        return ()
    if not isinstance(value, list) or len(value) > MAX_EXCLUDE:
        raise _fail(path, "exclude", f"expected a list of at most {MAX_EXCLUDE} rules")
    rules = []
    for i, rule in enumerate(value):
        key = f"exclude[{i}]"
        kinds = [k for k in (rule or {}) if k != "column"] if isinstance(rule, dict) else []
        if not isinstance(rule, dict) or "column" not in rule or len(kinds) != 1:
            raise _fail(
                path, key, f"expected {{column: ..., one of {EXCLUDE_KINDS}}}, got {rule!r}"
            )
        kind, arg = kinds[0], rule[kinds[0]]
        if kind not in EXCLUDE_KINDS:
            raise _fail(path, f"{key}.{kind}", f"unknown rule; expected one of {EXCLUDE_KINDS}")
        if kind == "blank" and arg is not True:
            raise _fail(path, f"{key}.blank", "expected true")
        if kind in ("below", "above") and (
            not isinstance(arg, int | float) or isinstance(arg, bool)
        ):
            raise _fail(path, f"{key}.{kind}", f"expected a number, got {arg!r}")
        if kind in ("prefix", "in"):
            arg = _values(path, f"{key}.{kind}", arg)
        if kind == "regex":
            try:
                re.compile(_string(path, f"{key}.regex", arg))
            except re.error as exc:
                raise _fail(path, f"{key}.regex", f"not a regular expression: {exc}") from None
        rules.append((_column_ref(path, f"{key}.column", rule["column"], header), kind, arg))
    return tuple(rules)
