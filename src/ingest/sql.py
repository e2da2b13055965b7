"""The cleaning logic as SQL: DuckDB dialect, only functions sqlglot transpiles to Spark SQL.

Reading and decoding (Python + DuckDB I/O, :mod:`ingest.read`) stop at one table (or view)
of raw string fields, ``extract``::

    file_id, line, raw, n_fields, n_min, n_max,
    <role columns as VARCHAR: customer_id, date, amount, ..., sign_flag, filter_value>

and a small table of the files read, ``extract_files(file_id, source_file, ...)``. ``raw``
(the line as it was) may be NULL; the DuckDB reader then fetches it for the rejected rows
only, into ``<cleaned>_raw(file_id, line, raw)``, which :func:`rejects_sql` joins.

Everything after that is a SELECT built here, so the Spark engine can run the same
cleaning with ``sqlglot.transpile(sql, read="duckdb", write="spark")``.

Reject reasons are decided in a fixed order, the first that applies wins:
``truncated_row`` (fewer fields than the header, or than the highest mapped position),
``extra_fields`` (more fields than the header: usually an unquoted delimiter inside a value),
``filtered``, ``blank_customer_id``, ``id_too_long`` (customer or transaction id longer than
the mapping's ``max_id_length``), ``bad_date`` (not a date, or a digits-only date of the wrong
length such as ``2023011`` for ``%Y%m%d``), ``date_before_min`` (before the mapping's
``min_date``), ``date_after_extract``, ``bad_amount`` (not a number, or thousands separators
in the wrong places such as ``1,2,3``), ``negative_amount`` / ``zero_amount`` (by the
mapping's ``non_positive_amounts`` rule), then ``duplicate_txn_id`` among the rows still
accepted (the first by file, line is kept; found with a GROUP BY on ``txn_id`` and a join,
cheaper than a window over every row), and last, with ``non_positive_amounts: net``,
``unmatched_return`` (:mod:`ingest.netting`).

Every reason up to ``zero_amount`` depends on the row alone
(:func:`classify_transactions_sql`, ``first_reason``); the duplicate check looks across
rows (:func:`resolve_duplicates_sql`). Spark runs both as one query
(:func:`clean_transactions_sql`); the DuckDB stage runs the first on the CSV parser's
output as it streams and the second over the classified rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from kequn.sql_text import literal

#: every reject reason in the order it is decided; ``filtered`` is not counted as an error
REASONS = (
    "truncated_row",
    "extra_fields",
    "filtered",
    "blank_customer_id",
    "id_too_long",
    "bad_date",
    "date_before_min",
    "date_after_extract",
    "bad_amount",
    "negative_amount",
    "zero_amount",
    "duplicate_txn_id",
    "unmatched_return",
    "duplicate_customer_id",
)

#: a number after removing thousands separators and mapping the decimal separator to "."
REGEX_SPECIAL = set("\\^$.|?*+()[]{}-/")

NUMBER_PATTERN = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)$"

#: file_id * FILE_STRIDE + line orders rows by file, then line (lines < 10^12)
FILE_STRIDE = 1_000_000_000_000


def literal_list(values: Iterable[str]) -> str:
    return ", ".join(literal(v) for v in values)


def split_fields(fmt: str, delimiter: str) -> str:
    """Expression splitting the text line ``raw`` into an array of field strings.

    ``whitespace``: runs of blanks separate fields, leading/trailing blanks ignored.
    ``csv``/``tsv``: split on the delimiter; a line holding a double quote goes through a
    quote-aware regular expression (RFC 4180 quoting, ``""`` inside quotes), the rest
    through a plain split, which is several times faster.
    """
    if fmt == "whitespace":
        return r"string_split_regex(trim(raw), '\s+')"
    d_re = "\\" + delimiter if delimiter in REGEX_SPECIAL else delimiter
    d_sql = literal(delimiter)
    quoted = literal(f'{d_re}("(?:[^"]|"")*"|[^{d_re}]*)')
    return (
        f"CASE WHEN contains(raw, '\"') "
        f"THEN regexp_extract_all({d_sql} || raw, {quoted}, 1) "
        f"ELSE string_split(raw, {d_sql}) END"
    )


def fixed_fields(widths: tuple[int, ...]) -> str:
    """Expression cutting the line ``raw`` into fixed-width fields (an array of strings)."""
    starts = [sum(widths[:i]) + 1 for i in range(len(widths))]
    parts = ", ".join(f"substr(raw, {s}, {w})" for s, w in zip(starts, widths, strict=True))
    return f"list_value({parts})"


def fixed_field_count(widths: tuple[int, ...]) -> str:
    """Expression counting the fields a fixed-width line reaches: the fields that start
    within it, one more when text goes on past the last field (``extra_fields``)."""
    starts = [sum(widths[:i]) + 1 for i in range(len(widths))]
    reached = " + ".join(f"CAST(length(raw) >= {s} AS INTEGER)" for s in starts)
    return (
        f"CAST(CASE WHEN length(rtrim(raw)) > {sum(widths)} THEN {len(widths) + 1} "
        f"ELSE {reached} END AS INTEGER)"
    )


def split_parts(
    fmt: str, delimiter: str, widths: tuple[int, ...], positions: dict[str, int], roles
) -> tuple[str, str, str, str]:
    """The SQL pieces that cut a line ``raw`` into the ``extract`` columns, shared by both
    engines' line readers: (``fields`` array, ``n_fields``, the role columns selected from
    ``fields``, the test of a line holding only blanks or delimiters, which is skipped).

    ``fixed`` lines are cut by ``widths`` (:func:`fixed_fields`, :func:`fixed_field_count`),
    the others split on ``delimiter`` (:func:`split_fields`); every field is unquoted.
    """
    fixed = fmt == "fixed"
    fields = fixed_fields(widths) if fixed else split_fields(fmt, delimiter)
    n_fields = fixed_field_count(widths) if fixed else "CAST(array_length(fields) AS INTEGER)"
    values = ", ".join(
        unquote(f"fields[{positions[role] + 1}]") + f" AS {role}"
        if role in positions
        else f"CAST(NULL AS VARCHAR) AS {role}"
        for role in roles
    )
    only_delimiters = (
        "trim(raw) = ''"
        if fmt in ("whitespace", "fixed")
        else f"trim(replace(raw, {literal(delimiter)}, '')) = ''"
    )
    return fields, n_fields, values, only_delimiters


def unquote(expr: str) -> str:
    """Expression removing the CSV quotes around a field and undoubling inner quotes."""
    return (
        f"CASE WHEN starts_with({expr}, '\"') AND ends_with({expr}, '\"') AND length({expr}) > 1 "
        f"THEN replace(substr({expr}, 2, length({expr}) - 2), '\"\"', '\"') ELSE {expr} END"
    )


#: characters stripped around every value: space, tab, CR, LF, no-break and ideographic space.
#: The ideographic space is a literal character: Spark's ``chr(n)`` is ``chr(n % 256)``, so
#: ``chr(12288)`` would be U+0000 there (tests/test_spark.py checks the trimmed values)
BLANKS = "' ' || chr(9) || chr(10) || chr(13) || chr(160) || '\u3000'"

#: strptime directives of a fixed number of digits, and that number
FIXED_WIDTH = {"%Y": 4, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2, "%y": 2}


#: :data:`BLANKS` one by one, for ``IN``
BLANK_LIST = "' ', chr(9), chr(10), chr(13), chr(160), '\u3000'"

#: true when a text's first character is none of :data:`BLANKS`, tested on its bytes: UTF-8
#: orders texts by code point, so ``x >= '!'`` says the first code point is at least U+0021
#: and ``x < chr(160)`` that it is below U+00A0 (code points below U+0021 other than the
#: blanks, which are rare, fail the test and are trimmed the slow way)
FIRST_NOT_BLANK = (
    "({x} >= '!' AND {x} < chr(160) OR {x} >= chr(161) AND {x} < '\u3000' OR {x} >= '\u3001')"
)


def strip(expr: str) -> str:
    """Expression removing :data:`BLANKS` (tabs too, not only spaces) from both ends.

    Exactly ``trim(x, BLANKS)`` for every text, computed as::

        x                  if first(x) and last(x) are not in BLANKS
        trim(x, BLANKS)    otherwise (and for '' and NULL)

    Trimming can only change a text that starts or ends with a blank, and most fields do
    not. The first character is tested by byte comparisons (:data:`FIRST_NOT_BLANK`), the
    last by ``substring(x, -1, 1) NOT IN`` the blanks; both are a few times cheaper than
    DuckDB's two-argument ``trim``, which builds its character set again for every value.
    Both tests and ``trim`` work on code points in DuckDB and Spark alike.
    """
    first = FIRST_NOT_BLANK.format(x=expr)
    last = f"substring({expr}, -1, 1) NOT IN ({BLANK_LIST})"
    return f"CASE WHEN {first} AND {last} THEN {expr} ELSE trim({expr}, {BLANKS}) END"


def blank_to_null(expr: str) -> str:
    return f"NULLIF({strip(expr)}, '')"


def parse_number(expr: str, thousands: str, decimal: str) -> str:
    """Expression giving the DOUBLE value of a text number, NULL when it is not one.

    With ``s`` the stripped text without spaces and ``t`` it without thousands separators
    (decimal mark as ``.``), a number is ``A(t)`` (:data:`NUMBER_PATTERN`) when ``s`` holds
    no separator, else ``G(s)``: separators only between groups of three digits
    (``"1,234.50"`` yes, ``"1,2,3"`` no). ``G(s)`` implies ``A(t)``, so this is the rule
    ``A(t) AND (no separator OR G(s))`` with one regular expression per value, not two.
    """
    spaced = f"replace({strip(expr)}, ' ', '')"
    text = f"replace({spaced}, {literal(thousands)}, '')" if thousands else spaced
    if decimal != ".":
        text = f"replace({text}, {literal(decimal)}, '.')"
    value = f"TRY_CAST({text} AS DOUBLE)"
    plain = f"CASE WHEN regexp_matches({text}, {literal(NUMBER_PATTERN)}) THEN {value} END"
    if not thousands:
        return plain
    pattern = literal(rf"^[+-]?[0-9]{{1,3}}([{thousands}][0-9]{{3}})+([{decimal}][0-9]*)?$")
    return (
        f"CASE WHEN NOT contains({spaced}, {literal(thousands)}) THEN {plain} "
        f"WHEN regexp_matches({spaced}, {pattern}) THEN {value} END"
    )


def parse_date(expr: str, date_format: str) -> str:
    """Expression giving the DATE of a text date in ``date_format``, NULL when invalid.

    DuckDB's ``try_strptime`` is several times faster than ``TRY(strptime(...))`` on dirty
    data; sqlglot leaves it as is, so the Spark engine must map it to
    ``TRY_TO_TIMESTAMP(x, <Java pattern>)`` (see :func:`spark_date_format`).
    """
    parsed = f"CAST(try_strptime({strip(expr)}, {literal(date_format)}) AS DATE)"
    width = digits_only_width(date_format)
    if width is None:
        return parsed
    # strptime reads 2023011 as 2023-01-1: a digits-only format needs its exact width
    return f"CASE WHEN length({strip(expr)}) = {width} THEN {parsed} END"


def digits_only_width(date_format: str) -> int | None:
    """The text length of a format made only of fixed-width digit directives
    (``%Y%m%d`` -> 8), else None (formats with separators delimit their fields)."""
    parts = re.findall(r"%.|.", date_format)
    if not parts or any(p not in FIXED_WIDTH for p in parts):
        return None
    return sum(FIXED_WIDTH[p] for p in parts)


def spark_date_format(date_format: str) -> str:
    """The Java/Spark pattern of a strptime format (``%Y%m%d`` -> ``yyyyMMdd``), via sqlglot."""
    import sqlglot

    probe = sqlglot.transpile(
        f"SELECT strptime(x, {literal(date_format)})", read="duckdb", write="spark"
    )[0]
    return probe.split("'")[1]


def structure_reason() -> str:
    """Reason for a row whose field count does not match its file's layout, else NULL."""
    return (
        "CASE WHEN n_fields < n_min THEN 'truncated_row' "
        "WHEN n_max IS NOT NULL AND n_fields > n_max THEN 'extra_fields' END"
    )


def filter_reason(keep: tuple[str, ...]) -> str:
    if not keep:
        return "NULL"
    values = literal_list(keep)
    return f"CASE WHEN coalesce({strip('filter_value')}, '') NOT IN ({values}) THEN 'filtered' END"


#: the default plausible-date window starts here (dates before it are typing errors)
DEFAULT_MIN_DATE = dt.date(1900, 1, 1)
#: the default longest customer / transaction id
DEFAULT_MAX_ID_LENGTH = 64
#: rules for amounts <= 0 (see :func:`clean_transactions_sql`)
NON_POSITIVE_RULES = ("keep", "reject", "return")


def id_length_check(*columns: str, limit: int) -> str:
    """True when any of the (already stripped) id ``columns`` is longer than ``limit``."""
    return " OR ".join(f"coalesce(length({c}), 0) > {int(limit)}" for c in columns)


def non_positive_reasons(rule: str) -> str:
    """The CASE branches rejecting amounts <= 0 under ``rule`` (see NON_POSITIVE_RULES)."""
    if rule not in NON_POSITIVE_RULES:
        raise ValueError(f"non_positive_amounts must be one of {NON_POSITIVE_RULES}, got {rule!r}")
    zero = "WHEN amount = 0 THEN 'zero_amount'"
    return {"keep": "", "return": zero, "reject": f"WHEN amount < 0 THEN 'negative_amount' {zero}"}[
        rule
    ]


#: the reason of a row excluded by a mapping rule: counted apart, never a reject
EXCLUDED = "excluded"
#: reasons of rows left out of the accepted ones but not unusable: excluded by a mapping
#: rule, or taken out by netting returns off against purchases (:mod:`ingest.netting`)
EXCLUDED_REASONS = (EXCLUDED, "netted_return", "returned_in_full")


def exclude_reason(rules) -> str:
    """CASE giving ``'excluded'`` when a row matches any ``exclude`` rule (the i-th rule
    reads the role column ``exclude_i``), else NULL.

    ``blank``: empty after stripping; ``prefix``: starts with one of the values;
    ``regex``: matches (anywhere; anchor with ^...$); ``below`` / ``above``: a number
    strictly below / above; ``in``: one of the values.
    """
    tests = []
    for i, (kind, arg) in enumerate(rules):
        value = strip(f"exclude_{i}")
        if kind == "blank":
            tests.append(f"coalesce({value}, '') = ''")
        elif kind == "prefix":
            tests.append(
                "(" + " OR ".join(f"starts_with({value}, {literal(p)})" for p in arg) + ")"
            )
        elif kind == "regex":
            tests.append(f"coalesce(regexp_matches({value}, {literal(arg)}), FALSE)")
        elif kind in ("below", "above"):
            op = "<" if kind == "below" else ">"
            tests.append(f"coalesce(TRY_CAST({value} AS DOUBLE) {op} {float(arg)!r}, FALSE)")
        elif kind == "in":
            tests.append(f"coalesce({value} IN ({literal_list(arg)}), FALSE)")
    if not tests:
        return "NULL"
    return f"CASE WHEN {' OR '.join(tests)} THEN '{EXCLUDED}' END"


def amount_expression(op: str | None, thousands: str, decimal: str) -> str:
    """The line amount: the ``amount`` column, or ``amount`` x ``amount_b`` (``multiply``),
    or ``amount`` - ``amount_b`` (``subtract``; a blank side is 0, both blank is NULL)."""
    a = parse_number("amount", thousands, decimal)
    if op is None:
        return a
    b = parse_number("amount_b", thousands, decimal)
    if op == "multiply":
        return f"({a}) * ({b})"
    blank_a, blank_b = (f"coalesce({strip(c)}, '') = ''" for c in ("amount", "amount_b"))
    a0 = f"CASE WHEN {blank_a} THEN 0 ELSE {a} END"
    b0 = f"CASE WHEN {blank_b} THEN 0 ELSE {b} END"
    return f"CASE WHEN {blank_a} AND {blank_b} THEN NULL ELSE ({a0}) - ({b0}) END"


def classify_transactions_sql(
    *,
    date_format: str,
    thousands: str,
    decimal: str,
    extract_date: dt.date,
    negative: tuple[str, ...] = (),
    keep: tuple[str, ...] = (),
    source: str = "extract",
    min_date: dt.date = DEFAULT_MIN_DATE,
    max_id_length: int = DEFAULT_MAX_ID_LENGTH,
    non_positive: str = "keep",
    amount_op: str | None = None,
    exclude: tuple = (),
    carry: tuple[str, ...] = (),
) -> str:
    """SELECT over ``source`` giving every row with its parsed values and ``first_reason``:
    the reasons decided row by row, each from the row's own fields (every reason before
    ``duplicate_txn_id``).

    ``first_reason`` is NULL for a row that passes them. ``amount`` is ``-|amount|`` when
    the sign flag is one of ``negative`` (debit/credit flag), the parsed value otherwise.
    ``non_positive`` is the rule for amounts <= 0: ``keep`` (accepted, counted in the
    metrics), ``reject`` (``negative_amount`` / ``zero_amount``) or ``return`` (negative
    amounts kept as returns, zero rejected). ``exclude`` rules ((kind, value), ...) mark
    rows ``excluded`` (:func:`exclude_reason`) right after the structure checks. The
    columns ``carry`` of ``source`` are passed through unchanged.

    Each raw field is stripped once: the query reads every role column in one projection
    and DuckDB evaluates a repeated ``trim`` of the same column once. Because no reason
    here looks at another row, the DuckDB reader runs this query on the CSV parser's
    output as it streams (:func:`ingest.read.read_extract`, ``row_sql``).
    """
    amount = amount_expression(amount_op, thousands, decimal)
    if negative:
        amount = (
            f"CASE WHEN {strip('sign_flag')} IN ({literal_list(negative)}) "
            f"THEN -abs({amount}) ELSE {amount} END"
        )
    carried = "".join(f", {column}" for column in carry)
    return f"""
SELECT *,
       CASE
           WHEN structure_reason IS NOT NULL THEN structure_reason
           WHEN exclude_reason IS NOT NULL THEN exclude_reason
           WHEN filter_reason IS NOT NULL THEN filter_reason
           WHEN customer_id IS NULL THEN 'blank_customer_id'
           WHEN {id_length_check("customer_id", "txn_id", limit=max_id_length)}
               THEN 'id_too_long'
           WHEN date IS NULL THEN 'bad_date'
           WHEN date < CAST({literal(min_date)} AS DATE) THEN 'date_before_min'
           WHEN date > CAST({literal(extract_date)} AS DATE) THEN 'date_after_extract'
           WHEN amount IS NULL THEN 'bad_amount'
           {non_positive_reasons(non_positive)}
       END AS first_reason
FROM (
    SELECT file_id, line, raw,
           {structure_reason()} AS structure_reason,
           {filter_reason(keep)} AS filter_reason,
           {exclude_reason(exclude)} AS exclude_reason,
           {blank_to_null("customer_id")} AS customer_id,
           {parse_date("date", date_format)} AS date,
           {amount} AS amount,
           {blank_to_null("product")} AS product,
           {blank_to_null("channel")} AS channel,
           {blank_to_null("txn_id")} AS txn_id{carried}
    FROM {source}
) AS parsed"""


def _duplicate_parts(classified: str, group_lines: bool) -> tuple[str, str]:
    """(body of the CTE ``first_rows``, final SELECT) of :func:`resolve_duplicates_sql`."""
    first_rows = f"""
    SELECT txn_id, MIN(file_id * {FILE_STRIDE} + line) AS first_key
    FROM {classified}
    WHERE first_reason IS NULL AND txn_id IS NOT NULL AND NOT {str(group_lines).upper()}
    GROUP BY txn_id
    HAVING COUNT(*) > 1"""
    final = f"""
SELECT r.file_id, r.line, r.raw, r.customer_id, r.date, r.amount, r.product, r.channel,
       r.txn_id,
       CASE
           WHEN r.first_reason IS NOT NULL THEN r.first_reason
           WHEN r.file_id * {FILE_STRIDE} + r.line > f.first_key THEN 'duplicate_txn_id'
       END AS reason
FROM {classified} AS r
LEFT JOIN first_rows AS f ON r.txn_id = f.txn_id AND r.first_reason IS NULL
"""
    return first_rows, final


def resolve_duplicates_sql(classified: str, group_lines: bool = False) -> str:
    """SELECT over ``classified`` (rows of :func:`classify_transactions_sql`) giving the
    cleaned rows with ``reason``: ``first_reason``, else ``duplicate_txn_id`` for every row
    still accepted whose txn_id an earlier accepted row holds.

    The first row by key ``file_id * FILE_STRIDE + line`` is kept: with ``d(t) = min key
    over the accepted rows of txn_id t`` (only ids held by more than one), a row of key
    ``k > d(t)`` is the duplicate. The minima come from a GROUP BY and a join, cheaper
    than a window over every row, and ``classified`` is only scanned (never materialised
    as a CTE). With ``group_lines`` a repeated txn_id is a line of the same transaction,
    not a duplicate.
    """
    first_rows, final = _duplicate_parts(classified, group_lines)
    return f"WITH first_rows AS ({first_rows}\n){final}"


def clean_transactions_sql(*, group_lines: bool = False, **options) -> str:
    """SELECT over ``options["source"]`` (raw fields) giving every row with its parsed
    values and ``reason``, NULL for an accepted row: :func:`classify_transactions_sql`
    then :func:`resolve_duplicates_sql`, in one query (the Spark engine runs it as is).

    ``options`` are those of :func:`classify_transactions_sql`; with ``group_lines`` a
    repeated txn_id is a line of the same transaction, not a duplicate.
    """
    first_rows, final = _duplicate_parts("reasoned", group_lines)
    return (
        f"WITH reasoned AS ({classify_transactions_sql(**options)}\n),\n"
        f"first_rows AS ({first_rows}\n){final}"
    )


def clean_clients_sql(
    *,
    date_format: str,
    thousands: str,
    decimal: str,
    keep: tuple[str, ...] = (),
    source: str = "extract",
    min_date: dt.date = DEFAULT_MIN_DATE,
    max_id_length: int = DEFAULT_MAX_ID_LENGTH,
) -> str:
    """SELECT over ``source`` giving every client-master row, parsed, with ``reason``.

    Blank optional values are NULL (a client without a close date is normal); a non-blank
    value that does not parse rejects the row (``bad_date`` / ``bad_amount``). A repeated
    customer_id keeps its first row (``duplicate_customer_id``).
    """
    open_date = parse_date("open_date", date_format)
    close_date = parse_date("close_date", date_format)
    balance = parse_number("asset_balance", thousands, decimal)
    min_day = f"CAST({literal(min_date)} AS DATE)"
    return f"""
WITH parsed AS (
    SELECT file_id, line, raw,
           {structure_reason()} AS structure_reason,
           {filter_reason(keep)} AS filter_reason,
           {blank_to_null("customer_id")} AS customer_id,
           {blank_to_null("client_type")} AS client_type,
           {blank_to_null("industry")} AS industry,
           {blank_to_null("region")} AS region,
           {open_date} AS open_date,
           {blank_to_null("open_date")} IS NOT NULL AND {open_date} IS NULL AS bad_open_date,
           {balance} AS asset_balance,
           {blank_to_null("asset_balance")} IS NOT NULL AND {balance} IS NULL AS bad_balance,
           {close_date} AS close_date,
           {blank_to_null("close_date")} IS NOT NULL AND {close_date} IS NULL AS bad_close_date,
           {blank_to_null("branch")} AS branch,
           {blank_to_null("branch_name")} AS branch_name,
           {blank_to_null("relationship_manager")} AS relationship_manager
    FROM {source}
),
reasoned AS (
    SELECT *,
           CASE
               WHEN structure_reason IS NOT NULL THEN structure_reason
               WHEN filter_reason IS NOT NULL THEN filter_reason
               WHEN customer_id IS NULL THEN 'blank_customer_id'
               WHEN {id_length_check("customer_id", limit=max_id_length)} THEN 'id_too_long'
               WHEN bad_open_date OR bad_close_date THEN 'bad_date'
               WHEN open_date < {min_day} OR close_date < {min_day} THEN 'date_before_min'
               WHEN bad_balance THEN 'bad_amount'
           END AS first_reason
    FROM parsed
)
SELECT file_id, line, raw, customer_id, client_type, industry, region,
       open_date, asset_balance, close_date, branch, branch_name, relationship_manager,
       CASE
           WHEN first_reason IS NOT NULL THEN first_reason
           WHEN ROW_NUMBER() OVER (
               PARTITION BY first_reason IS NULL, customer_id ORDER BY file_id, line
           ) > 1 THEN 'duplicate_customer_id'
       END AS reason
FROM reasoned
"""


def accepted_sql(cleaned: str, columns: Iterable[str], group_lines: bool = False) -> str:
    """The accepted rows of a cleaned table, sorted by customer_id then date/file order.

    With ``group_lines`` the accepted lines sharing (txn_id, customer_id, date) become one
    transaction: amount = the sum of the line amounts, product / channel of its first line.
    """
    columns = list(columns)
    if group_lines:
        picked = {
            "amount": "SUM(amount) AS amount",
            "product": "arg_min(product, file_id * {s} + line) AS product",
            "channel": "arg_min(channel, file_id * {s} + line) AS channel",
        }
        cols = ", ".join(picked.get(c, c).format(s=FILE_STRIDE) for c in columns)
        return (
            f"SELECT {cols} FROM {cleaned} WHERE reason IS NULL "
            f"GROUP BY txn_id, customer_id, date "
            f"ORDER BY customer_id, date, MIN(file_id * {FILE_STRIDE} + line)"
        )
    cols = ", ".join(columns)
    order = "customer_id, date, file_id, line" if "date" in columns else "customer_id"
    return f"SELECT {cols} FROM {cleaned} WHERE reason IS NULL ORDER BY {order}"


def rejects_sql(cleaned: str, files: str = "extract_files", raw_table: str | None = None) -> str:
    """The rejected rows (``source_file, line, reason, raw``) in file and line order.

    ``raw`` comes from ``cleaned`` or, with ``raw_table``, where ``cleaned`` has it NULL,
    from that table ``(file_id, line, raw)`` of the rejected lines' text (the DuckDB reader
    fetches raw text for rejected rows only: :func:`ingest.read.attach_raw`).
    """
    if raw_table is None:
        raw, join = "c.raw", ""
    else:
        raw = "coalesce(c.raw, r.raw)"
        join = f"LEFT JOIN {raw_table} AS r ON c.file_id = r.file_id AND c.line = r.line "
    return (
        f"SELECT f.source_file, c.line, c.reason, {raw} AS raw "
        f"FROM {cleaned} AS c JOIN {files} AS f ON c.file_id = f.file_id {join}"
        f"WHERE c.reason IS NOT NULL AND c.reason NOT IN ({literal_list(EXCLUDED_REASONS)}) "
        "ORDER BY c.file_id, c.line"
    )


def reason_counts_sql(cleaned: str) -> str:
    return f"SELECT reason, COUNT(*) AS n FROM {cleaned} WHERE reason IS NOT NULL GROUP BY reason"


def summary_sql(cleaned: str) -> str:
    """Accepted rows, customers and date range of a cleaned transaction table."""
    return (
        f"SELECT COUNT(*) AS rows_accepted, COUNT(DISTINCT customer_id) AS customers, "
        f"MIN(date) AS first_date, MAX(date) AS last_date, "
        f"COUNT(CASE WHEN amount < 0 THEN 1 END) AS amounts_negative, "
        f"COUNT(CASE WHEN amount = 0 THEN 1 END) AS amounts_zero "
        f"FROM {cleaned} WHERE reason IS NULL"
    )
