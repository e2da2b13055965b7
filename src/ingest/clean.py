"""Cleaning and counting: the ``extract`` table -> accepted rows, rejects, metrics.

The SQL itself lives in :mod:`ingest.sql`; these functions run it on a DuckDB connection
and return DuckDB relations, so nothing is pulled into Python row by row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from ingest import sql
from ingest.mapping import CLIENT_COLUMNS, MAX_EXCLUDE, TRANSACTION_COLUMNS, Mapping
from ingest.netting import netting_sql
from ingest.read import attach_raw, read_extract

#: roles read from a file beyond its mapped columns
FLAG_ROLES = ("sign_flag", "filter_value", "amount_b") + tuple(
    f"exclude_{i}" for i in range(MAX_EXCLUDE)
)
TRANSACTION_ROLES = TRANSACTION_COLUMNS[0] + TRANSACTION_COLUMNS[1] + FLAG_ROLES
CLIENT_ROLES = CLIENT_COLUMNS[0] + CLIENT_COLUMNS[1] + FLAG_ROLES

Relation = duckdb.DuckDBPyRelation


def output_columns(mapping: Mapping, kind: str) -> list[str]:
    """The columns written for ``kind``: the required ones plus the optional ones mapped."""
    required, optional = TRANSACTION_COLUMNS if kind == "transactions" else CLIENT_COLUMNS
    return list(required) + [c for c in optional if c in mapping.columns]


def _options(mapping: Mapping, source: str) -> dict[str, Any]:
    return {
        "date_format": mapping.date_format,
        "thousands": mapping.thousands,
        "decimal": mapping.decimal,
        "keep": mapping.filter_keep,
        "source": source,
        "min_date": mapping.min_date,
        "max_id_length": mapping.max_id_length,
    }


def _transaction_options(mapping: Mapping, source: str, extract_date) -> dict[str, Any]:
    net = mapping.non_positive_amounts == "net"
    return {
        **_options(mapping, source),
        "extract_date": extract_date,
        "negative": mapping.sign_negative,
        "non_positive": "return" if net else mapping.non_positive_amounts,
        "amount_op": mapping.amount_op,
        "exclude": tuple((kind, arg) for _, kind, arg in mapping.exclude),
    }


def cleaning_sql(
    mapping: Mapping,
    kind: str,
    source: str,
    extract_date: dt.date | None,
    classified: bool = False,
) -> str:
    """The query (DuckDB dialect, also run on Spark) that classifies every row of the
    ``kind`` extract read into ``source``: ``transactions`` or ``clients``.

    With ``classified`` (transactions only) ``source`` already holds the rows of
    :func:`ingest.sql.classify_transactions_sql` (:func:`transaction_rows` run by the
    reader) and only the checks across rows remain: duplicates, then netting.
    """
    if kind != "transactions":
        return sql.clean_clients_sql(**_options(mapping, source))
    if classified:
        query = sql.resolve_duplicates_sql(source, mapping.group_lines)
    else:
        query = sql.clean_transactions_sql(
            **_transaction_options(mapping, source, extract_date),
            group_lines=mapping.group_lines,
        )
    return netting_sql(query) if mapping.non_positive_amounts == "net" else query


def transaction_rows(mapping: Mapping, extract_date: dt.date):
    """The reader's ``row_sql`` for a transaction extract (:func:`ingest.read.read_extract`):
    ``(source, carry) -> SELECT`` classifying each row by its own fields
    (:func:`ingest.sql.classify_transactions_sql`)."""
    options = _transaction_options(mapping, "extract", extract_date)

    def row_sql(source: str, carry: tuple[str, ...]) -> str:
        return sql.classify_transactions_sql(**{**options, "source": source}, carry=carry)

    return row_sql


def _classify(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    kind: str,
    query: str,
    source: str,
    cleaned: str,
) -> tuple[Relation, Relation]:
    """Keep the classified rows of ``query`` in the table ``cleaned``; (accepted, rejects)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {cleaned} AS {query}")
    attach_raw(con, cleaned, source)
    accepted = con.sql(
        sql.accepted_sql(cleaned, output_columns(mapping, kind), mapping.group_lines)
    )
    return accepted, con.sql(sql.rejects_sql(cleaned, f"{source}_files", f"{cleaned}_raw"))


def clean_transactions(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    extract_date: dt.date,
    source: str = "extract",
    cleaned: str = "transactions_cleaned",
) -> tuple[Relation, Relation]:
    """Classify every row of ``source``; return (accepted transactions, rejects).

    ``extract_date`` is the mapping's ``extract_date`` or, when it has none, today.
    The classified rows are kept in the table ``cleaned`` for :func:`ingest_metrics`.
    """
    query = cleaning_sql(mapping, "transactions", source, extract_date)
    return _classify(con, mapping, "transactions", query, source, cleaned)


def read_clean_transactions(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    extract_date: dt.date,
    source: str = "extract",
    cleaned: str = "transactions_cleaned",
) -> tuple[list[Path], Relation, Relation]:
    """Read and classify every row of the transaction extract in one pass, then resolve
    duplicates; return (files read, accepted transactions, rejects).

    The same result as :func:`ingest.read.read_extract` then :func:`clean_transactions`,
    with the row-by-row rules run on the CSV parser's output as it streams (no table of
    raw fields). The classified rows are kept in the table ``cleaned``.
    """
    row_sql = transaction_rows(mapping, extract_date)
    files = read_extract(mapping, con, TRANSACTION_ROLES, name=source, row_sql=row_sql)
    query = cleaning_sql(mapping, "transactions", source, extract_date, classified=True)
    accepted, rejects = _classify(con, mapping, "transactions", query, source, cleaned)
    return files, accepted, rejects


def clean_clients(
    con: duckdb.DuckDBPyConnection,
    mapping: Mapping,
    source: str = "clients_extract",
    cleaned: str = "clients_cleaned",
) -> tuple[Relation, Relation]:
    """Classify every client-master row; return (accepted clients, rejects)."""
    query = cleaning_sql(mapping, "clients", source, extract_date=None)
    return _classify(con, mapping, "clients", query, source, cleaned)


def reason_counts(con: duckdb.DuckDBPyConnection, cleaned: str) -> dict[str, int]:
    """Rows per reason as found (rejects and ``excluded``), absent reasons left out."""
    return {r: int(n) for r, n in con.execute(sql.reason_counts_sql(cleaned)).fetchall()}


def reject_counts(con: duckdb.DuckDBPyConnection, cleaned: str) -> dict[str, int]:
    """Rejected rows per reason, every reason in :data:`ingest.sql.REASONS` listed."""
    found = reason_counts(con, cleaned)
    return {reason: int(found.get(reason, 0)) for reason in sql.REASONS}


def reject_rate(rows_read: int, by_reason: dict[str, int], excluded: int = 0) -> float:
    """Unusable rows / rows in scope; ``filtered`` rows and rows excluded by rule are left
    out of both counts."""
    filtered = by_reason.get("filtered", 0)
    in_scope = rows_read - filtered - excluded
    unusable = sum(by_reason.values()) - filtered
    return unusable / in_scope if in_scope else 0.0


def count_metrics(rows_read: int, found: dict[str, int], files: list) -> dict[str, Any]:
    """The counts of ``reports/metrics/ingest.json`` for one extract from the rows per
    reason ``found``: rows read = accepted + excluded + rejected; the reject rate as
    :func:`reject_rate`."""
    by_reason = {reason: int(found.get(reason, 0)) for reason in sql.REASONS}
    excluded = sum(int(found.get(reason, 0)) for reason in sql.EXCLUDED_REASONS)
    rejected = sum(by_reason.values())
    return {
        "rows_read": rows_read,
        "rows_accepted": rows_read - rejected - excluded,
        "rows_excluded": excluded,
        "rows_rejected": rejected,
        "rejected_by_reason": by_reason,
        "reject_rate": round(reject_rate(rows_read, by_reason, excluded), 6),
        "files": [str(f) for f in files],
    }


def ingest_metrics(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    cleaned: str = "transactions_cleaned",
) -> dict[str, Any]:
    """``reports/metrics/ingest.json`` for one cleaned extract (see docs/outputs.md)."""
    rows_read = int(con.execute(f"SELECT COUNT(*) FROM {cleaned}").fetchone()[0])
    metrics = count_metrics(rows_read, reason_counts(con, cleaned), files)
    _, customers, first_date, last_date, negative, zero = con.execute(
        sql.summary_sql(cleaned)
    ).fetchone()
    metrics.update(
        customers=int(customers),
        first_date=first_date.isoformat() if first_date else None,
        last_date=last_date.isoformat() if last_date else None,
        amounts_negative=int(negative),
        amounts_zero=int(zero),
    )
    return metrics


def check_reject_rate(metrics: dict[str, Any], limit: float, what: str) -> str | None:
    """A one-line message when the reject rate is above ``limit``, else None."""
    rate = metrics["reject_rate"]
    if rate <= limit:
        return None
    top = sorted(
        ((n, r) for r, n in metrics["rejected_by_reason"].items() if n and r != "filtered"),
        reverse=True,
    )[:3]
    reasons = ", ".join(f"{r} {n}" for n, r in top)
    return (
        f"{what}: reject rate {rate:.2%} is above ingest.max_reject_rate {limit:.2%} "
        f"(top reasons: {reasons}); see data/interim/rejects.failed.csv"
    )


def failed_rejects_path(rejects: Path) -> Path:
    """Where a failed run keeps its rejects (``rejects.csv`` -> ``rejects.failed.csv``), so
    the previous run's ``rejects.csv`` stays with that run's other outputs."""
    rejects = Path(rejects)
    return rejects.with_name(f"{rejects.stem}.failed{rejects.suffix}")
