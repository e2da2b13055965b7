"""``python -m kequn segment``: every customer's tiers, RFM segment, preference type, cluster.

Reads ``data/processed/customers.parquet``, ``ltv.parquet``, ``churn.parquet``,
``data/interim/transactions.parquet`` (for ``as_of`` and the migration baseline) and
``models/clusters.json`` (last run's clusters, when present). Writes
``data/processed/segments.parquet``, ``reports/metrics/segments.json``,
``reports/plots/pareto.csv``, ``reports/plots/cluster_profiles.csv``,
``models/clusters.json`` and a copy of the segments under ``data/history/<as_of>/`` for the
next run's migration.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from kequn.config import resolve_as_of, section
from kequn.errors import UserError
from kequn.io import read_json, write_bytes, write_csv, write_json, write_parquet
from kequn.log import get_logger, timed
from segmentation.clusters import previous_model_or_none
from segmentation.migration import historic_values, latest_previous_run
from segmentation.segment import join_inputs, segment_customers
from segmentation.value_tiers import assign_value_tiers

TRANSACTIONS = Path("data/interim/transactions.parquet")
CUSTOMERS = Path("data/processed/customers.parquet")
LTV = Path("data/processed/ltv.parquet")
CHURN = Path("data/processed/churn.parquet")
SEGMENTS = Path("data/processed/segments.parquet")
HISTORY = Path("data/history")
MODEL = Path("models/clusters.json")
METRICS = Path("reports/metrics/segments.json")
PARETO = Path("reports/plots/pareto.csv")
PROFILES = Path("reports/plots/cluster_profiles.csv")

log = get_logger("segment")


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{path}: not found (run the earlier stages first: dvc repro)")
    try:
        return pd.read_parquet(path, columns=columns)
    except (ValueError, KeyError, OSError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None


def _last_transaction_date(path: Path) -> dt.date:
    if not path.exists():
        raise UserError(f"{path}: not found (run the ingest stage first)")
    quoted = str(path).replace("'", "''")
    ((last,),) = duckdb.sql(f"SELECT max(date) FROM read_parquet('{quoted}')").fetchall()
    if last is None:
        raise UserError(f"{path}: no transactions")
    return last.date() if isinstance(last, dt.datetime) else last


def review_baseline(params: dict, as_of: dt.date, months: int) -> tuple[pd.DataFrame, str]:
    """Value tiers as of ``as_of - months`` from the transactions, historic value basis."""
    settings = section(params, "segmentation")
    date = (pd.Timestamp(as_of) - pd.DateOffset(months=months)).date()
    then = historic_values(TRANSACTIONS, date)
    tiers = assign_value_tiers(then["total_value"].to_numpy("float64"), settings["tier_shares"])
    baseline = pd.DataFrame({"customer_id": then["customer_id"].astype(str), "value_tier": tiers})
    return baseline, f"review: tiers as of {date} ({months} months earlier), historic value basis"


def run(params: dict) -> None:
    settings = section(params, "segmentation")
    as_of = resolve_as_of(params, _last_transaction_date(TRANSACTIONS))
    with timed(log, "reading customers, ltv and churn"):
        customers = _read(CUSTOMERS)
        ltv = _read(LTV, ["customer_id", "clv"]) if LTV.exists() else None
        churn = _read(CHURN, ["customer_id", "churn_probability"]) if CHURN.exists() else None
        frame = join_inputs(customers, ltv, churn)
    previous_model = previous_model_or_none(read_json(MODEL)) if MODEL.exists() else None
    if MODEL.exists() and previous_model is None:
        log.warning("%s is not a usable cluster model; cluster ids start afresh", MODEL)

    previous = latest_previous_run(HISTORY, as_of)
    with timed(log, "migration baseline"):
        if previous is not None:
            date, path = previous
            baseline = _read(path, ["customer_id", "value_tier"])
            source = f"previous run: {path} (as_of {date})"
        else:
            baseline, source = review_baseline(params, as_of, int(settings.get("review_months", 3)))
    log.info("migration baseline: %s", source)

    with timed(log, f"segmenting {len(frame)} customers"):
        result = segment_customers(
            frame,
            settings,
            seed=int(params.get("seed", 0)),
            previous_model=previous_model,
            baseline=baseline,
            baseline_source=source,
        )
    metrics = {"as_of": as_of.isoformat(), **result.metrics}
    write_parquet(SEGMENTS, result.segments)
    write_bytes(HISTORY / as_of.isoformat() / "segments.parquet", SEGMENTS.read_bytes())
    write_json(METRICS, metrics)
    write_json(MODEL, result.model)
    write_csv(PARETO, result.pareto.round(6))
    write_csv(PROFILES, result.cluster_profiles.round(6))
    tiers = metrics["value_tiers"]["tiers"]
    log.info(
        "tiers %s; %.1f%% of customers make 80%% of value; k=%d",
        {t: v["customers"] for t, v in tiers.items()},
        100 * (metrics["concentration"]["customer_share_for_80pct_value"] or 0),
        metrics["clusters"]["chosen_k"],
    )
