"""``python -m kequn churn``: read inputs, score churn (:mod:`churn.scoring`), write outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from churn.scoring import score_churn
from kequn.config import resolve_as_of
from kequn.errors import UserError
from kequn.io import write_csv, write_json, write_parquet
from kequn.log import get_logger, timed

log = get_logger("churn")

TRANSACTIONS = Path("data/interim/transactions.parquet")
CUSTOMERS = Path("data/processed/customers.parquet")
VALUE = Path("data/processed/ltv.parquet")
TRANSACTION_MODEL = Path("models/transaction_model.json")
OUTPUT = Path("data/processed/churn.parquet")
METRICS = Path("reports/metrics/churn.json")
PLOTS = Path("reports/plots")

#: columns of churn.parquet (docs/outputs.md) plus two extra for readers
COLUMNS = [
    "customer_id",
    "churn_probability",
    "warning_level",
    "median_days_to_inactivity",
    "reason_codes",
    "reasons_en",
    "reasons_zh",
    "strategic_client",
    "raw_score",
]


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{path}: not found; run the earlier stages first (dvc repro)")
    return pd.read_parquet(path)


def _load_transaction_model(path: Path) -> Any:
    if not path.exists():
        log.warning("%s not found; the BTYD candidate is skipped", path)
        return None
    from ltv import load_model

    return load_model(path)


def run(params: dict) -> None:
    with timed(log, "reading inputs"):
        transactions = _read(TRANSACTIONS)
        customers = _read(CUSTOMERS)
        value = pd.read_parquet(VALUE) if VALUE.exists() else None
        model = _load_transaction_model(TRANSACTION_MODEL)
    if customers.empty:
        raise UserError(f"{CUSTOMERS}: no customers to score")
    last = pd.to_datetime(transactions["date"]).max().date()
    as_of = resolve_as_of(params, last)
    with timed(log, f"churn scoring of {len(customers)} customers as of {as_of}"):
        result = score_churn(transactions, customers, value, as_of, params, model)
    with timed(log, "writing outputs"):
        write_parquet(OUTPUT, result.table[COLUMNS])
        write_json(METRICS, result.metrics)
        for name, frame in result.plots.items():
            write_csv(PLOTS / f"{name}.csv", frame)
    log.info(
        "chosen %s; levels %s; degraded: %s",
        result.metrics["chosen"],
        result.metrics["warning_levels"],
        result.metrics["degraded"] or "none",
    )
