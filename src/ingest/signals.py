"""The optional balance-snapshot and service-event extracts: read, cleaned, counted.

Each is read through its own mapping (:func:`ingest.mapping.load_mapping` with kind
``balances`` or ``events``) by :func:`ingest.read.read_extract`, with the same reject
rules as the transaction extract: every row read is accepted or rejected with a reason,
``rows_read = rows_accepted + rows_rejected`` exactly, and the rejects go to
``data/interim/rejects.csv`` with file, line and raw text.

Balance snapshots (``customer_id, date, balance[, product]``): a balance may be negative
(a loan); a second row for the same (customer, date, product) is ``duplicate_snapshot``.
Service events (``customer_id, date, type[, event_id, severity, score,
resolved_date]``): the mapping's ``values`` key translates the file's values of ``type``
(and ``severity``) to canonical ones; a value it does not list is ``unmapped_value``. A
blank resolved date means "not resolved"; one before the event date is ``bad_date``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from ingest import sql
from ingest.mapping import KIND_COLUMNS, Mapping
from ingest.read import attach_raw, read_extract
from kequn.sql_text import literal

#: reject reasons of the balance extract, in the order they are decided
BALANCE_REASONS = (
    "truncated_row",
    "extra_fields",
    "filtered",
    "blank_customer_id",
    "id_too_long",
    "bad_date",
    "date_before_min",
    "date_after_extract",
    "bad_amount",
    "duplicate_snapshot",
)
#: reject reasons of the event extract, in the order they are decided
EVENT_REASONS = (
    "truncated_row",
    "extra_fields",
    "filtered",
    "blank_customer_id",
    "id_too_long",
    "bad_date",
    "date_before_min",
    "date_after_extract",
    "unmapped_value",
    "bad_score",
    "duplicate_event_id",
)
#: canonical event types the features read (a mapping may add others)
COMPLAINT, SURVEY = "complaint", "survey"


def roles(kind: str) -> tuple[str, ...]:
    """The columns read for ``kind`` (``balances`` or ``events``) plus the filter flag."""
    required, optional = KIND_COLUMNS[kind]
    return required + optional + ("filter_value",)


def _mapped_value(expr: str, table: dict[str, str]) -> str:
    """CASE translating the stripped text of ``expr`` by ``table`` (NULL when unlisted)."""
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in table.items())
    return f"CASE {sql.strip(expr)} {whens} END"


def _common(mapping: Mapping, extract_date: dt.date | None) -> tuple[str, str]:
    """(parsed columns, reasons) shared by both kinds: structure, filter, id, date."""
    date = sql.parse_date("date", mapping.date_format)
    columns = (
        f"file_id, line, raw, {sql.structure_reason()} AS structure_reason, "
        f"{sql.filter_reason(mapping.filter_keep)} AS filter_reason, "
        f"{sql.blank_to_null('customer_id')} AS customer_id, {date} AS date"
    )
    after = (
        f"WHEN date > CAST({literal(extract_date)} AS DATE) THEN 'date_after_extract' "
        if extract_date
        else ""
    )
    reasons = (
        "WHEN structure_reason IS NOT NULL THEN structure_reason "
        "WHEN filter_reason IS NOT NULL THEN filter_reason "
        "WHEN customer_id IS NULL THEN 'blank_customer_id' "
        f"WHEN {sql.id_length_check('customer_id', limit=mapping.max_id_length)} "
        "THEN 'id_too_long' "
        "WHEN date IS NULL THEN 'bad_date' "
        f"WHEN date < CAST({literal(mapping.min_date)} AS DATE) THEN 'date_before_min' " + after
    )
    return columns, reasons


def balances_sql(mapping: Mapping, source: str, extract_date: dt.date | None) -> str:
    """SELECT over ``source`` classifying every balance row (``reason`` NULL = accepted)."""
    common, reasons = _common(mapping, extract_date)
    balance = sql.parse_number("balance", mapping.thousands, mapping.decimal)
    products = mapping.extra.get("values", {}).get("product")
    product = _mapped_value("product", products) if products else sql.blank_to_null("product")
    return f"""
WITH parsed AS (
    SELECT {common}, {balance} AS balance, {product} AS product FROM {source}
),
reasoned AS (
    SELECT *, CASE {reasons} WHEN balance IS NULL THEN 'bad_amount' END AS first_reason
    FROM parsed
)
SELECT file_id, line, raw, customer_id, date, product, balance,
       CASE WHEN first_reason IS NOT NULL THEN first_reason
            WHEN ROW_NUMBER() OVER (PARTITION BY first_reason IS NULL, customer_id, date,
                 product ORDER BY file_id, line) > 1 THEN 'duplicate_snapshot'
       END AS reason
FROM reasoned
"""


def events_sql(mapping: Mapping, source: str, extract_date: dt.date | None) -> str:
    """SELECT over ``source`` classifying every event row (``reason`` NULL = accepted)."""
    common, reasons = _common(mapping, extract_date)
    maps = mapping.extra.get("values", {})
    kind = _mapped_value("type", maps["type"]) if "type" in maps else sql.blank_to_null("type")
    severity = (
        _mapped_value("severity", maps["severity"])
        if "severity" in maps
        else sql.blank_to_null("severity")
    )
    score = sql.parse_number("score", mapping.thousands, mapping.decimal)
    resolved = sql.parse_date("resolved_date", mapping.date_format)
    blank_severity = f"{sql.blank_to_null('severity')} IS NULL"
    return f"""
WITH parsed AS (
    SELECT {common}, {kind} AS type, {severity} AS severity,
           {blank_severity} AS blank_severity, {score} AS score,
           {sql.blank_to_null("score")} IS NOT NULL AND {score} IS NULL AS bad_score,
           {resolved} AS resolved_date,
           {sql.blank_to_null("resolved_date")} IS NOT NULL AND {resolved} IS NULL AS bad_resolved,
           {sql.blank_to_null("event_id")} AS event_id
    FROM {source}
),
reasoned AS (
    SELECT *, CASE {reasons}
        WHEN bad_resolved OR resolved_date < date THEN 'bad_date'
        WHEN type IS NULL OR (severity IS NULL AND NOT blank_severity) THEN 'unmapped_value'
        WHEN bad_score THEN 'bad_score'
    END AS first_reason
    FROM parsed
)
SELECT file_id, line, raw, event_id, customer_id, date, type, severity, score, resolved_date,
       CASE WHEN first_reason IS NOT NULL THEN first_reason
            WHEN event_id IS NOT NULL AND ROW_NUMBER() OVER (PARTITION BY
                 first_reason IS NULL, event_id ORDER BY file_id, line) > 1
            THEN 'duplicate_event_id'
       END AS reason
FROM reasoned
"""


def output_columns(mapping: Mapping, kind: str) -> list[str]:
    """The columns written for ``kind``: the required ones plus the optional ones mapped."""
    required, optional = KIND_COLUMNS[kind]
    return list(required) + [c for c in optional if c in mapping.columns]


def clean_signal(
    con: duckdb.DuckDBPyConnection, mapping: Mapping, kind: str, extract_date: dt.date | None
) -> tuple[str, str, dict[str, Any]]:
    """Read and classify one optional extract.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The ingest connection.
    mapping : Mapping
        Its mapping (kind ``balances`` or ``events``).
    kind : str
        ``balances`` or ``events``.
    extract_date : date or None
        Later dates are ``date_after_extract``.

    Returns
    -------
    (str, str, dict)
        The query of the accepted rows (sorted by customer, date), the query of the
        rejects (``source_file, line, reason, raw``) and the counts for ingest.json.
    """
    source, cleaned = f"{kind}_extract", f"{kind}_cleaned"
    files = read_extract(mapping, con, roles(kind), name=source)
    query = (balances_sql if kind == "balances" else events_sql)(mapping, source, extract_date)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {cleaned} AS {query}")
    attach_raw(con, cleaned, source)
    columns = ", ".join(output_columns(mapping, kind))
    accepted = (
        f"SELECT {columns} FROM {cleaned} WHERE reason IS NULL "
        f"ORDER BY customer_id, date, file_id, line"
    )
    rejects = sql.rejects_sql(cleaned, f"{source}_files", f"{cleaned}_raw")
    return accepted, rejects, signal_metrics(con, cleaned, kind, files)


def signal_metrics(con, cleaned: str, kind: str, files) -> dict[str, Any]:
    """The counts of one cleaned extract on a DuckDB connection (:func:`signal_counts`)."""
    return signal_counts(lambda query: con.execute(query).fetchall(), cleaned, kind, files)


def signal_counts(fetch, cleaned: str, kind: str, files) -> dict[str, Any]:
    """Counts of one cleaned extract for ingest.json, from the same queries on any engine.

    Parameters
    ----------
    fetch : callable
        Runs one query (DuckDB dialect) and returns its rows as tuples; the Spark engine
        translates it first (:func:`kequn.spark.to_spark_sql`).
    cleaned : str
        The table classified by :func:`balances_sql` or :func:`events_sql`.
    kind : str
        ``balances`` or ``events``.
    files : list
        The files read, in file-id order.

    Returns
    -------
    dict
        rows read = accepted + rejected (exactly), rejects by reason (every reason
        listed), reject rate = (rejected - filtered) / (read - filtered) (0 when nothing is
        in scope), customers, date range of the accepted rows, and the number of negative
        balances (balances) or accepted rows per type (events).
    """
    reasons = BALANCE_REASONS if kind == "balances" else EVENT_REASONS
    found = dict(fetch(sql.reason_counts_sql(cleaned)))
    by_reason = {r: int(found.get(r, 0)) for r in reasons}
    rows_read = int(fetch(f"SELECT COUNT(*) FROM {cleaned}")[0][0])
    rejected = sum(by_reason.values())
    in_scope = rows_read - by_reason["filtered"]
    customers, first, last = fetch(
        f"SELECT COUNT(DISTINCT customer_id), MIN(date), MAX(date) FROM {cleaned} "
        f"WHERE reason IS NULL"
    )[0]
    metrics = {
        "rows_read": rows_read,
        "rows_accepted": rows_read - rejected,
        "rows_rejected": rejected,
        "rejected_by_reason": by_reason,
        "reject_rate": round((rejected - by_reason["filtered"]) / in_scope if in_scope else 0, 6),
        "files": [str(f) for f in files],
        "customers": int(customers),
        "first_date": first.isoformat() if first else None,
        "last_date": last.isoformat() if last else None,
    }
    if kind == "balances":
        metrics["balances_negative"] = int(
            fetch(f"SELECT COUNT(*) FROM {cleaned} WHERE reason IS NULL AND balance < 0")[0][0]
        )
    else:
        rows = fetch(
            f"SELECT type, COUNT(*) FROM {cleaned} WHERE reason IS NULL GROUP BY type ORDER BY type"
        )
        metrics["rows_by_type"] = {t: int(n) for t, n in rows}
    return metrics
