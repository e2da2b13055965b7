"""``python -m kequn ingest``: mappings + extracts -> data/interim/*, reports/metrics/ingest.json.

Nothing is written until every file has been read and cleaned, and then every output is
written from the same run or none is (:func:`write_all`). A reject rate above
``ingest.max_reject_rate`` writes that run's rejects to ``rejects.failed.csv`` (so the
analyst can look) and fails, leaving the previous run's outputs together as they were.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ingest import sql
from ingest.clean import (
    CLIENT_ROLES,
    check_reject_rate,
    clean_clients,
    count_metrics,
    failed_rejects_path,
    ingest_metrics,
    read_clean_transactions,
    reason_counts,
)
from ingest.mapping import load_mapping
from ingest.read import (
    allowed_roots,
    drop_extract,
    read_extract,
    refuse_outside,
    resolve_files,
    untracked_patterns,
)
from ingest.signals import clean_signal
from kequn.config import section
from kequn.errors import UserError
from kequn.io import atomic_path, write_json
from kequn.log import get_logger, timed

TRANSACTIONS = Path("data/interim/transactions.parquet")
CLIENTS = Path("data/interim/clients.parquet")
#: the optional extracts (kind -> output), :mod:`ingest.signals`
SIGNALS = {
    "balances": Path("data/interim/balances.parquet"),
    "events": Path("data/interim/events.parquet"),
}
REJECTS = Path("data/interim/rejects.csv")
METRICS = Path("reports/metrics/ingest.json")

log = get_logger("ingest")


def copy_to(con: duckdb.DuckDBPyConnection, query: str, target: Path, options: str) -> None:
    """Write the result of ``query`` with DuckDB's COPY, atomically (temp file, rename)."""
    with atomic_path(target) as tmp:
        con.execute(f"COPY ({query}) TO {sql.literal(str(tmp))} ({options})")


def write_all(con: duckdb.DuckDBPyConnection, copies, metrics: dict[str, Any]) -> None:
    """Write every output of one run to temporary files, then rename them all.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The connection holding the cleaned tables.
    copies : list of (query, target, COPY options)
        The data outputs.
    metrics : dict
        Written to :data:`METRICS` as JSON.

    Returns
    -------
    None
        Either every target is replaced (the renames come after all writing has
        succeeded) or, on an error, none is.
    """
    with contextlib.ExitStack() as stack:
        for query, target, options in copies:
            tmp = stack.enter_context(atomic_path(target))
            with timed(log, f"writing {target}"):
                con.execute(f"COPY ({query}) TO {sql.literal(str(tmp))} ({options})")
        tmp = stack.enter_context(atomic_path(METRICS))
        write_json(tmp, metrics)


#: DuckDB's memory budget: beyond it, sorts, joins and tables spill to a temporary directory
#: (the stage must stay under 4 GB on 10 million rows, Python and Arrow included)
MEMORY_LIMIT = os.environ.get("KEQUN_INGEST_MEMORY_LIMIT", "2GB")

PARQUET = "FORMAT parquet"
CSV = "FORMAT csv, HEADER true"


def run(params: dict[str, Any]) -> None:
    """Read, clean and write every configured extract (the ``ingest`` stage).

    Parameters
    ----------
    params : dict
        The parsed params.yaml; reads ``engine`` and the ``ingest`` section.

    Returns
    -------
    None
        Writes :data:`TRANSACTIONS`, :data:`CLIENTS`, :data:`SIGNALS`, :data:`REJECTS`
        and :data:`METRICS` together, or raises a :class:`UserError` and writes none.
    """
    cfg = section(params, "ingest")
    if not cfg.get("mapping"):
        raise UserError("params.yaml: ingest.mapping is required (a mapping file under mappings/)")
    max_rate = _max_reject_rate(cfg)
    mapping, clients_mapping, roots = _main_mappings(cfg)
    extract_date = mapping.extract_date or dt.date.today()
    signal_mappings = load_signal_mappings(cfg, roots)
    engine = str(params.get("engine") or "duckdb")
    if engine == "spark":
        run_on_spark(params, mapping, clients_mapping, max_rate, extract_date, signal_mappings)
        return
    if engine != "duckdb":
        raise UserError(f"params.yaml: engine={engine!r} must be one of duckdb, spark")

    spill = tempfile.TemporaryDirectory(prefix="kequn-ingest-spill-")
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill.name})
    accepted_query, metrics, reject_queries = _read_transactions(con, mapping, extract_date)
    clients_query = _read_clients(con, clients_mapping, metrics, reject_queries)
    signal_copies = _read_signals(con, signal_mappings, extract_date, metrics, reject_queries)
    rejects_query = " UNION ALL ".join(f"({q})" for q in reject_queries)
    mappings = {"transactions": mapping, "clients": clients_mapping, **signal_mappings}
    problems = _reject_rate_problems(metrics, max_rate, mappings)
    if problems:
        # the previous run's outputs stay as they were, together; this run's rejects are
        # kept apart for the analyst to look at
        copy_to(con, rejects_query, failed_rejects_path(REJECTS), CSV)
        raise UserError("; ".join(problems))

    with timed(log, f"writing {TRANSACTIONS}, {CLIENTS}, {REJECTS}, {METRICS}"):
        write_all(
            con,
            [
                (accepted_query, TRANSACTIONS, PARQUET),
                (clients_query, CLIENTS, PARQUET),
                *signal_copies,
                (rejects_query, REJECTS, CSV),
            ],
            metrics,
        )
    failed_rejects_path(REJECTS).unlink(missing_ok=True)
    _log_summary(metrics)


def _max_reject_rate(cfg: dict[str, Any]) -> float:
    """``ingest.max_reject_rate``, checked to be a number in [0, 1]."""
    max_rate = cfg.get("max_reject_rate", 0.02)
    if (
        not isinstance(max_rate, int | float)
        or isinstance(max_rate, bool)
        or not 0 <= max_rate <= 1
    ):
        raise UserError(
            f"params.yaml: ingest.max_reject_rate={max_rate!r} must be a number in [0, 1]"
        )
    return max_rate


def _main_mappings(cfg: dict[str, Any]):
    """The transaction mapping, the client-master mapping (None when not configured) and
    the allowed roots, each mapping's files checked (:func:`_check_files`)."""
    mapping = load_mapping(cfg["mapping"], "transactions")
    clients_path = cfg.get("clients_mapping") or ""
    clients_mapping = load_mapping(clients_path, "clients") if clients_path else None
    roots = allowed_roots(cfg.get("allowed_roots"))
    for each in (mapping, clients_mapping):
        if each is not None:
            _check_files(each, roots)
    return mapping, clients_mapping, roots


def _check_files(mapping, roots) -> None:
    """Refuse local files outside ``roots``; warn about patterns dvc.yaml does not track."""
    if not any("://" in f for f in mapping.files):
        refuse_outside(resolve_files(mapping), roots, mapping)
    warn_untracked(mapping)


def _read_transactions(con: duckdb.DuckDBPyConnection, mapping, extract_date: dt.date):
    """Read and clean the transaction extract: (accepted rows' query, metrics, [rejects
    query])."""
    with timed(log, f"reading and cleaning {mapping.path}"):
        files, accepted, _ = read_clean_transactions(con, mapping, extract_date, "extract")
        accepted_query = accepted.sql_query()
        drop_extract(con, "extract")  # the cleaned table holds all that is needed now
        metrics = ingest_metrics(con, files)
    reject_queries = [
        sql.rejects_sql("transactions_cleaned", "extract_files", "transactions_cleaned_raw")
    ]
    return accepted_query, metrics, reject_queries


def _read_clients(
    con: duckdb.DuckDBPyConnection, clients_mapping, metrics: dict, reject_queries: list
) -> str:
    """Read and clean the client master when configured: its query (no rows when not),
    its counts added to ``metrics["clients"]`` and its rejects to ``reject_queries``."""
    if clients_mapping is None:
        return "SELECT CAST(NULL AS VARCHAR) AS customer_id WHERE 1 = 0"
    with timed(log, f"reading {clients_mapping.path}"):
        client_files = read_extract(clients_mapping, con, CLIENT_ROLES, name="clients_extract")
        clients, _ = clean_clients(con, clients_mapping)
        clients_query = clients.sql_query()
    client_reasons = reason_counts(con, "clients_cleaned")
    client_rows = int(con.execute("SELECT COUNT(*) FROM clients_cleaned").fetchone()[0])
    metrics["clients"] = count_metrics(client_rows, client_reasons, client_files)
    reject_queries.append(
        sql.rejects_sql("clients_cleaned", "clients_extract_files", "clients_cleaned_raw")
    )
    return clients_query


def _read_signals(
    con: duckdb.DuckDBPyConnection,
    signal_mappings: dict,
    extract_date: dt.date,
    metrics: dict,
    reject_queries: list,
) -> list:
    """Read and clean the optional extracts: their (query, target, options) copies (no
    rows for those not configured), their metrics and rejects added as for clients."""
    copies = []
    for kind, target in SIGNALS.items():
        if kind not in signal_mappings:
            copies.append((EMPTY[kind], target, PARQUET))
            continue
        each = signal_mappings[kind]
        with timed(log, f"reading {each.path}"):
            accepted_q, rejects_q, metrics[kind] = clean_signal(
                con, each, kind, each.extract_date or extract_date
            )
        copies.append((accepted_q, target, PARQUET))
        reject_queries.append(rejects_q)
    return copies


def _reject_rate_problems(metrics: dict, max_rate: float, mappings: dict) -> list[str]:
    """One message per extract whose reject rate is above ``max_rate``; ``mappings``:
    metrics key (``transactions`` for the top level) -> mapping, None when not read."""
    problems = [check_reject_rate(metrics, max_rate, mappings["transactions"].path)]
    for kind, each in mappings.items():
        if kind != "transactions" and each is not None and kind in metrics:
            problems.append(check_reject_rate(metrics[kind], max_rate, each.path))
    return [p for p in problems if p]


def _log_summary(metrics: dict) -> None:
    """Log the run's row counts, reasons and date range."""
    log.info(
        "rows read %d, accepted %d, rejected %d (%s), customers %d, %s..%s",
        metrics["rows_read"],
        metrics["rows_accepted"],
        metrics["rows_rejected"],
        ", ".join(f"{r} {n}" for r, n in metrics["rejected_by_reason"].items() if n) or "none",
        metrics["customers"],
        metrics["first_date"],
        metrics["last_date"],
    )


#: the outputs written when an optional extract is not configured (no rows)
EMPTY = {
    "balances": "SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS DATE) AS date, "
    "CAST(NULL AS DOUBLE) AS balance WHERE 1 = 0",
    "events": "SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS DATE) AS date, "
    "CAST(NULL AS VARCHAR) AS type WHERE 1 = 0",
}


def load_signal_mappings(cfg: dict[str, Any], roots) -> dict[str, Any]:
    """The mappings of the optional extracts that params.yaml turns on (kind -> mapping)."""
    mappings = {}
    for kind in SIGNALS:
        path = cfg.get(f"{kind}_mapping") or ""
        if not path:
            continue
        mappings[kind] = load_mapping(path, kind)
        _check_files(mappings[kind], roots)
    return mappings


def warn_untracked(mapping) -> None:
    """Log a warning for each of the mapping's patterns that dvc.yaml's ingest stage does
    not list under ``deps`` (a change to those files would not rerun ingest)."""
    dvc_file = Path("dvc.yaml")
    if not dvc_file.is_file():
        return
    try:
        deps = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["stages"]["ingest"]["deps"]
    except (yaml.YAMLError, KeyError, TypeError):
        return
    for pattern in untracked_patterns(mapping.files, [str(d) for d in deps]):
        log.warning(
            "%s: files '%s' is not under any deps of the ingest stage in dvc.yaml: "
            "changes to it will not rerun ingest; add its folder to deps",
            mapping.path,
            pattern,
        )


def run_on_spark(params, mapping, clients_mapping, max_rate, extract_date, signal_mappings) -> None:
    """``engine: spark``: the same cleaning SQL on a Spark session (:mod:`ingest.spark_engine`),
    the same outputs (the optional extracts' too, :mod:`ingest.spark_signals`)."""
    from ingest.spark_engine import run_ingest
    from kequn.spark import get_session

    with timed(log, "starting Spark"):
        spark = get_session(params)
    metrics = run_ingest(
        mapping,
        clients_mapping,
        max_rate,
        spark,
        transactions_path=TRANSACTIONS,
        clients_path=CLIENTS,
        rejects_path=REJECTS,
        metrics_path=METRICS,
        extract_date=extract_date,
        signal_mappings=signal_mappings,
        signal_paths=SIGNALS,
    )
    log.info(
        "rows read %d, accepted %d, rejected %d, customers %d (Spark)",
        metrics["rows_read"],
        metrics["rows_accepted"],
        metrics["rows_rejected"],
        metrics["customers"],
    )
