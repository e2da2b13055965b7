"""``python -m kequn churn``: fit on a customer sample, score every customer chunk by chunk.

1. **fit** (:func:`churn.scoring.fit_churn`) on a seeded sample of ``scale.fit_customers``
   customers (everyone when there are no more than that): their transactions
   (:func:`kequn.chunks.transactions_of`), feature rows and ltv rows. The backtest, the
   survival model, the classifier, the calibration, the choice, the strategic CLV cut, the
   reasons' surrogate and the Kaplan-Meier tables are learnt there.
2. **score** (:func:`churn.scoring.score_customers`) customers.parquet and ltv.parquet
   ``scale.chunk_customers`` rows at a time (both sorted by customer_id with the same
   customers: checked per chunk), appending to churn.parquet (atomic); churn.json's counts
   are summed over the chunks. Memory: one chunk plus the fit sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from churn.scoring import (
    ScoredChunk,
    ScoreTotals,
    churn_metrics,
    fit_churn,
    read_settings,
    score_customers,
)
from kequn import catalogue
from kequn.chunks import (
    ChunkedParquetWriter,
    count_rows,
    iter_chunks,
    read_scale,
    sample_customer_ids,
    transactions_of,
)
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import write_csv, write_json
from kequn.log import get_logger, progress, timed
from kequn.settings import settings_from
from ltv import load_model

log = get_logger("churn")

TRANSACTIONS = catalogue.TRANSACTIONS.path
CUSTOMERS = catalogue.CUSTOMERS.path
BALANCES = catalogue.BALANCES.path
EVENTS = catalogue.EVENTS.path
VALUE = catalogue.LTV.path
TRANSACTION_MODEL = catalogue.TRANSACTION_MODEL.path
OUTPUT = catalogue.CHURN.path
METRICS = catalogue.CHURN_METRICS.path
PLOTS = catalogue.CHURN_PLOTS[0].path.parent

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
    "lapsed",
    "raw_score",
    "outflow_warning",
    "outflow_drop",
    "outflow_window_months",
    "outflow_rule",
    "complaint_warning",
    "complaint_rule",
    "alert_level",
]
#: transaction columns the fit reads (when present)
TRANSACTION_COLUMNS = ["customer_id", "date", "amount", "product", "channel"]
#: ltv.parquet columns the stage reads (when present)
VALUE_COLUMNS = ["customer_id", "clv", "value_percentile"]


def _require(path: Path) -> None:
    if not path.exists():
        raise UserError(f"{path}: not found; run the earlier stages first (dvc repro)")


def _load_transaction_model(path: Path) -> Any:
    if not path.exists():
        log.warning("%s not found; the BTYD candidate is skipped", path)
        return None
    return load_model(path)


def _present(path: Path, wanted: list[str]) -> list[str]:
    names = set(pq.read_schema(path).names)
    return [c for c in wanted if c in names]


def _rows_of(
    path: Path, ids: pd.Series | None, chunk_rows: int, columns: list[str] | None = None
) -> pd.DataFrame:
    """The rows of ``ids`` (all when None) of a per-customer Parquet file, in file order,
    read chunk by chunk (memory: one chunk plus the rows kept)."""
    chosen = None if ids is None else pd.Index(ids.astype(str))
    frames = []
    for frame in iter_chunks(path, chunk_rows, columns):
        if chosen is not None:
            frame = frame.loc[chosen.get_indexer(frame["customer_id"].astype(str)) >= 0]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _transactions(ids: pd.Series | None) -> pd.DataFrame:
    """The fit sample's transactions as Arrow-backed columns of the file's types (the form
    the backtest's feature tables scan; no Python string per row)."""
    columns = _present(TRANSACTIONS, TRANSACTION_COLUMNS)
    return transactions_of(TRANSACTIONS, ids, columns, arrow_backed=True)


def _check_ids(customers: pd.Series, value: pd.Series, where: str) -> None:
    if len(customers) != len(value) or not np.array_equal(
        customers.astype(str).to_numpy(), value.astype(str).to_numpy()
    ):
        raise UserError(
            f"{VALUE}: customer ids do not match {CUSTOMERS} ({where}); both must hold the "
            "same customers sorted by customer_id: rerun the ltv stage"
        )


def paired_chunks(
    chunk_rows: int, value_columns: list[str] | None
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """``(customers chunk, ltv chunk or None)`` pairs, checked to hold the same ids."""
    values = iter_chunks(VALUE, chunk_rows, value_columns) if value_columns else None
    start = 0
    for customers in iter_chunks(CUSTOMERS, chunk_rows):
        value = None
        if values is not None:
            value = next(values, pd.DataFrame({"customer_id": []}))
            where = f"rows {start + 1}-{start + len(customers)}"
            _check_ids(customers["customer_id"], value["customer_id"], where)
        start += len(customers)
        yield customers, value


def _rows(scored: ScoredChunk) -> int:
    return len(scored.table)


def _scored_chunks(
    fit: Any, chunk_rows: int, value_columns: list[str] | None, params: dict
) -> Iterator[ScoredChunk]:
    """Every customer scored, chunk by chunk in file order: here, or on Spark with
    ``engine: spark`` (:mod:`churn.spark_scoring`)."""
    if settings_from(params).engine == "spark":
        from churn.spark_scoring import scored_chunks

        value = VALUE if value_columns is not None else None
        with_clv = value_columns is not None and "clv" in value_columns
        yield from scored_chunks(fit, CUSTOMERS, value, with_clv, chunk_rows, params, COLUMNS)
        return
    for chunk_customers, chunk_value in paired_chunks(chunk_rows, value_columns):
        clv = chunk_value["clv"] if chunk_value is not None and "clv" in chunk_value else None
        yield score_customers(fit, chunk_customers, clv)


def run(params: dict) -> None:
    _require(TRANSACTIONS)
    _require(CUSTOMERS)
    read_settings(params)  # a bad churn parameter fails before any data is read
    scale = read_scale(params)
    n_customers = count_rows(CUSTOMERS)
    if n_customers == 0:
        raise UserError(f"{CUSTOMERS}: no customers to score")
    as_of = read_context().as_of
    value_columns = _present(VALUE, VALUE_COLUMNS) if VALUE.exists() else None
    if value_columns is not None:
        if "customer_id" not in value_columns:
            raise UserError(f"{VALUE}: no customer_id column; rerun the ltv stage")
        if count_rows(VALUE) != n_customers:
            raise UserError(
                f"{VALUE}: {count_rows(VALUE)} rows but {CUSTOMERS} has {n_customers}; "
                "rerun the ltv stage"
            )
    model = _load_transaction_model(TRANSACTION_MODEL)

    seed = int(params.get("seed", 0))
    ids = sample_customer_ids(CUSTOMERS, scale.fit_customers, seed)
    with timed(log, "reading the fit sample"):
        customers = _rows_of(CUSTOMERS, ids, scale.chunk_customers)
        if customers.empty:
            raise UserError(
                f"params.yaml: scale.fit_customers={scale.fit_customers} sampled no customer"
            )
        value = None
        if value_columns is not None:
            value = _rows_of(VALUE, ids, scale.chunk_customers, value_columns)
            _check_ids(customers["customer_id"], value["customer_id"], "fit sample")
        transactions = _transactions(ids)
    label = "everyone" if ids is None else f"a sample of {len(customers)}"
    with timed(log, f"churn fit on {label} of {n_customers} customers as of {as_of}"):
        signals = tuple(p if p.exists() else None for p in (BALANCES, EVENTS))
        fit = fit_churn(transactions, customers, value, as_of, params, model, signals)
    del transactions, customers, value

    totals = ScoreTotals()
    with timed(log, f"scoring {n_customers} customers, {scale.chunk_customers} at a time"):
        with ChunkedParquetWriter(OUTPUT) as writer:
            chunks = _scored_chunks(fit, scale.chunk_customers, value_columns, params)
            for scored in progress(chunks, log, "churn scoring", n_customers, size=_rows):
                writer.write(scored.table[COLUMNS])
                totals.add(scored)
    metrics = churn_metrics(fit, totals)
    with timed(log, "writing metrics and plots"):
        write_json(METRICS, metrics)
        for name, frame in fit.plots.items():
            write_csv(PLOTS / f"{name}.csv", frame)
    log.info(
        "chosen %s; levels %s; degraded: %s",
        metrics["chosen"],
        metrics["warning_levels"],
        metrics["degraded"] or "none",
    )
