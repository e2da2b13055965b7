"""``python -m kequn features``: data/interim/*.parquet -> data/processed/customers.parquet."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kequn.config import resolve_as_of, section
from kequn.errors import UserError
from kequn.log import get_logger, timed

TRANSACTIONS = Path("data/interim/transactions.parquet")
CLIENTS = Path("data/interim/clients.parquet")
CUSTOMERS = Path("data/processed/customers.parquet")

ENGINES = ("duckdb", "spark")


def engine_module(name: str):
    """The module providing ``customer_features`` / ``date_range`` for engine ``name``."""
    if name not in ENGINES:
        raise UserError(f"params.yaml: engine={name!r} must be one of {', '.join(ENGINES)}")
    if name == "spark":
        return importlib.import_module("features.spark_engine")
    return importlib.import_module("features.duckdb_engine")


def run(params: dict[str, Any]) -> None:
    log = get_logger("features")
    options = section(params, "features")
    unit_days = options.get("time_unit_days", 7)
    trend_window_days = options.get("trend_window_days", 90)
    engine = engine_module(str(params.get("engine") or "duckdb"))
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
    as_of = resolve_as_of(params, last)
    if as_of < first:
        raise UserError(f"params.yaml: as_of={as_of} is before the first transaction date {first}")
    log.info("%d transactions from %s to %s; as_of %s", n_rows, first, last, as_of)

    with timed(log, f"customer features as of {as_of} ({engine.__name__})"):
        written = engine.write_customer_features(
            CUSTOMERS,
            TRANSACTIONS,
            as_of,
            unit_days=unit_days,
            trend_window_days=trend_window_days,
            clients=CLIENTS,
        )
    log.info(
        "wrote %s: %d customers, %d with repeat transactions",
        CUSTOMERS,
        written["customers"],
        written["repeat_customers"],
    )
