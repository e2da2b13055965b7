"""``python -m kequn features``: data/interim/*.parquet -> data/processed/customers.parquet.

Also writes the run context (``data/processed/context.json``, :mod:`kequn.context`): this
stage is the one place where ``as_of`` is worked out.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from features.signals import signal_columns
from kequn import catalogue, context
from kequn.errors import UserError
from kequn.log import get_logger, timed
from kequn.settings import settings_from

TRANSACTIONS = catalogue.TRANSACTIONS.path
CLIENTS = catalogue.CLIENTS.path
CUSTOMERS = catalogue.CUSTOMERS.path

ENGINES = ("duckdb", "spark")


def engine_module(name: str):
    """The module providing ``customer_features`` / ``date_range`` for engine ``name``."""
    if name not in ENGINES:
        raise UserError(f"params.yaml: engine={name!r} must be one of {', '.join(ENGINES)}")
    if name == "spark":
        return importlib.import_module("features.spark_engine")
    return importlib.import_module("features.duckdb_engine")


def extract_date(mapping_path: str) -> dt.date | None:
    """The transaction mapping's ``extract_date`` (None when it states none or is absent)."""
    if not mapping_path or not Path(mapping_path).exists():
        return None
    from ingest.mapping import load_mapping

    return load_mapping(mapping_path).extract_date


def run(params: dict[str, Any]) -> None:
    log = get_logger("features")
    settings = settings_from(params)
    unit_days = settings.features.time_unit_days
    trend_window_days = settings.features.trend_window_days
    engine = engine_module(settings.engine)
    if engine.__name__ == "features.spark_engine":
        from kequn.spark import get_session

        with timed(log, "starting Spark"):
            get_session(params)  # the engine's calls reuse this session, set up from params
    for path in (TRANSACTIONS, CLIENTS):
        if not path.exists():
            raise UserError(f"{path}: not found; run the ingest stage first (dvc repro ingest)")

    first, last, n_rows = engine.date_range(TRANSACTIONS)
    if n_rows == 0 or first is None:
        raise UserError(f"{TRANSACTIONS}: no transactions")
    as_of = settings.as_of or last
    if as_of < first:
        raise UserError(f"params.yaml: as_of={as_of} is before the first transaction date {first}")
    if as_of > last and not settings.allow_as_of_after_data:
        raise UserError(
            f"params.yaml: as_of={as_of} is after the data's last date {last}; "
            "set allow_as_of_after_data: true to score it anyway"
        )
    extracted = extract_date(settings.ingest.mapping)
    if extracted is not None and as_of > extracted and not settings.allow_as_of_after_data:
        raise UserError(
            f"{settings.ingest.mapping}: extract_date {extracted} is before "
            f"params.yaml's as_of={as_of}; set allow_as_of_after_data: true to score it anyway"
        )
    log.info("%d transactions from %s to %s; as_of %s", n_rows, first, last, as_of)

    with timed(log, f"customer, balance and event features as of {as_of} ({engine.__name__})"):
        written = engine.write_customer_features(
            CUSTOMERS,
            TRANSACTIONS,
            as_of,
            unit_days=unit_days,
            trend_window_days=trend_window_days,
            clients=CLIENTS,
            balances=catalogue.BALANCES.path,
            events=catalogue.EVENTS.path,
        )
    added = signal_columns(pq.read_schema(CUSTOMERS).names)
    log.info("balance/event columns: %s", ", ".join(added) or "none (no such extracts)")
    run_context = context.make_context(
        as_of,
        first,
        last,
        n_rows,
        extract_date=extracted,
        source_bytes=TRANSACTIONS.stat().st_size,
    )
    context.write_context(run_context)
    log.info("run context %s: as_of %s (run %s)", context.PATH, as_of, run_context.run_id)
    log.info(
        "wrote %s: %d customers, %d with repeat transactions",
        CUSTOMERS,
        written["customers"],
        written["repeat_customers"],
    )
