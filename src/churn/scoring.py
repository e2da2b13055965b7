"""Churn scoring end to end: backtest the candidates, choose, calibrate, warn, explain.

Pure: data frames and parameters in, a :class:`ChurnResult` out (the stage writes it).

Choice (``churn.model: auto``): on every cut-off of the rolling-origin backtest
(:mod:`churn.rolling`) each candidate gets ROC AUC, PR AUC and Brier score (after
out-of-fold calibration); the candidate with the highest mean ROC AUC over the cut-offs
wins, unless the blend is within one standard error of it, when the blend is chosen
(:func:`churn.rolling.choose`, the one-standard-error rule). A BTYD fit that did not
converge, has a parameter at a bound or gives a nearly constant P(alive) is refused
(``refused`` in churn.json). The classifier is stacked on the BTYD outputs
(:mod:`churn.candidates`). The chosen score's calibration map is fitted on the most
recent cut-off and applied to the scores as of ``as_of``.
When the history is too short for a backtest at the full horizon, the candidates are
ranked on a proxy horizon (half the history, one cut-off) and the chosen score is mapped
rank-preservingly onto the BTYD probabilities (quantile mapping: the order
of the chosen score, the level of the transaction model); with no backtest at all the BTYD
probability is used as it is, else the survival one. Each such step is recorded in
``degraded``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from churn.candidates import btyd_no_transaction
from churn.fitting import clients_from_customers, fit_churn
from churn.model import (
    MAX_DAYS_TO_INACTIVITY,
    ChurnFit,
    calibrated_probability,
    chosen_score,
    model_scores,
)
from churn.reasons import explain
from churn.settings import CANDIDATES, ChurnSettings, read_settings
from churn.signal_warnings import (
    alert_level,
    complaint_warning,
    outflow_warning,
)
from churn.warning import lapsed_clients, strategic_by_cut, warning_levels
from kequn.log import get_logger

__all__ = [
    "CANDIDATES",
    "ChurnFit",
    "ChurnSettings",
    "btyd_no_transaction",
    "clients_from_customers",
    "fit_churn",
    "read_settings",
    "score_churn",
    "score_customers",
]

log = get_logger("churn")


@dataclass
class ChurnResult:
    """What the stage writes: the per-customer table, the metrics and the plot tables."""

    table: pd.DataFrame
    metrics: dict[str, Any]
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class ScoredChunk:
    """One scored chunk: the churn.parquet rows and what the metrics add up."""

    table: pd.DataFrame
    missing: int
    closing: int


#: the warnings counted besides the churn level (alert: the highest of all three)
SIGNAL_KINDS = ("outflow", "complaint", "alert")


def _no_levels() -> dict[str, int]:
    return {lvl: 0 for lvl in ("red", "orange", "yellow", "none")}


@dataclass
class ScoreTotals:
    """Counts accumulated over the scored chunks (churn.json's population figures).

    The mean probability is kept as an integer sum of millionths (the probabilities are
    rounded to 6 decimals), so it does not depend on how the customers were chunked.
    """

    customers: int = 0
    micro_sum: int = 0
    levels: dict[str, int] = field(default_factory=lambda: _no_levels())
    #: per kind of warning (outflow, complaint, alert: churn.signal_warnings), level counts
    signal_levels: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: _no_levels() for kind in SIGNAL_KINDS}
    )
    strategic: int = 0
    lapsed: int = 0
    closing: int = 0
    missing: int = 0

    def add(self, chunk: ScoredChunk) -> None:
        table = chunk.table
        self.customers += len(table)
        p = table["churn_probability"].to_numpy(dtype=float)
        self.micro_sum += int(np.round(p * 1e6).astype(np.int64).sum())
        counts = table["warning_level"].value_counts()
        for lvl in self.levels:
            self.levels[lvl] += int(counts.get(lvl, 0))
        for kind, levels in self.signal_levels.items():
            counts = table[f"{kind}_warning" if kind != "alert" else "alert_level"].value_counts()
            for lvl in levels:
                levels[lvl] += int(counts.get(lvl, 0))
        self.strategic += int(table["strategic_client"].sum())
        self.lapsed += int(table["lapsed"].sum())
        self.closing += chunk.closing
        self.missing += chunk.missing


def score_churn(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    value: pd.DataFrame | None,
    as_of: dt.date,
    params: dict[str, Any],
    transaction_model: Any = None,
    signals: tuple[Any, Any] = (None, None),
) -> ChurnResult:
    """Backtest, choose, calibrate and score churn for every customer of ``customers``:
    :func:`fit_churn` on everyone, then :func:`score_customers` in one chunk.

    ``customers``: the feature table as of ``as_of`` (customers.parquet); ``value``:
    ``customer_id, clv[, value_percentile]`` (ltv.parquet) or None; ``transaction_model``:
    the fitted BTYD model from the ltv stage (its class is refitted at the backtest cut-off);
    ``signals``: the balance snapshots and service events (:func:`fit_churn`).
    """
    fit = fit_churn(transactions, customers, value, as_of, params, transaction_model, signals)
    clv = None
    if value is not None and "clv" in value:
        clv = customers[["customer_id"]].merge(value, on="customer_id", how="left")["clv"]
    totals = ScoreTotals()
    chunk = score_customers(fit, customers, clv)
    totals.add(chunk)
    return ChurnResult(table=chunk.table, metrics=churn_metrics(fit, totals), plots=fit.plots)


def score_customers(
    fit: ChurnFit,
    customers: pd.DataFrame,
    clv: pd.Series | None = None,
) -> ScoredChunk:
    """churn.parquet rows for a chunk of customers (feature rows as of ``fit.as_of``).

    ``clv``: the chunk's CLV, aligned with ``customers`` (None: no value weighting).
    Nothing here depends on the other chunks: the same customer gets the same row whatever
    the chunking.
    """
    with threadpool_limits(1):
        return _score_customers(fit, customers, clv)


def _score_customers(fit: ChurnFit, customers: pd.DataFrame, clv: pd.Series | None) -> ScoredChunk:
    s = fit.settings
    h = s.horizon_days
    # the BTYD score is only read when it is the chosen one (the quantile map is stored)
    survival_now, btyd_now, _, aligned = model_scores(
        fit, customers, btyd=fit.chosen in ("btyd", "blend", "stack")
    )
    raw = chosen_score(fit, customers, survival_now, btyd_now)
    missing = int(np.isnan(raw).sum())
    raw = np.where(np.isnan(raw), survival_now, raw)
    probability, closing = calibrated_probability(fit, customers, raw)

    strategic = np.zeros(len(customers), dtype=bool)
    if fit.strategic_threshold is not None and clv is not None:
        strategic = strategic_by_cut(clv.to_numpy(), fit.strategic_threshold)
    lapsed = lapsed_clients(customers["days_since_last"].to_numpy(dtype=float), h)
    levels = warning_levels(probability, s.thresholds, strategic, lapsed)
    outflow = outflow_warning(customers, s.outflow_warning, lapsed)
    complaints = complaint_warning(customers, s.complaint_warning, lapsed)
    alert = alert_level(levels, outflow["outflow_warning"], complaints["complaint_warning"])
    reasons = explain(
        customers,
        probability,
        (alert != "none") | lapsed,
        as_of=fit.as_of,
        horizon_days=h,
        trend_window_days=s.trend_window_days,
        max_reasons=s.max_reasons,
        model=fit.reasons,
    )
    median_days = fit.survival.median_days_to_inactivity(
        customers["days_since_last"].to_numpy(dtype=float), h, aligned, MAX_DAYS_TO_INACTIVITY
    )
    table = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "churn_probability": probability,
            "warning_level": levels.astype(str),
            "median_days_to_inactivity": np.round(median_days, 1),
            "reason_codes": reasons["reason_codes"].astype(str).to_numpy(),
            "reasons_en": reasons["reasons_en"].astype(str).to_numpy(),
            "reasons_zh": reasons["reasons_zh"].astype(str).to_numpy(),
            "strategic_client": strategic,
            "lapsed": lapsed,
            "raw_score": np.round(raw, 6),
            **{c: outflow[c].to_numpy() for c in outflow},
            **{c: complaints[c].to_numpy() for c in complaints},
            "alert_level": alert,
        }
    )
    return ScoredChunk(table=table, missing=missing, closing=int(closing.sum()))


def churn_metrics(fit: ChurnFit, totals: ScoreTotals) -> dict[str, Any]:
    """churn.json: the fit's part plus the population counts of the scored chunks."""
    degraded = list(fit.degraded)
    if totals.missing:
        degraded.append(
            f"missing_scores: {totals.missing} {fit.chosen} scores were NaN; "
            "the survival ones used instead"
        )
    if fit.value_weighting_skipped:
        degraded.append("value_weighting_skipped: no clv from the ltv stage")
    for message in degraded[len(fit.degraded) :]:
        log.warning("degraded: %s", message)
    n = totals.customers
    return {
        **fit.metrics,
        "fit_customers": fit.fit_customers,
        "customers": int(n),
        "mean_churn_probability": totals.micro_sum / 1e6 / n if n else None,
        "warning_levels": dict(totals.levels),
        "lapsed_clients": int(totals.lapsed),
        "active_clients": int(n - totals.lapsed),
        "active_at_risk": {k: v for k, v in totals.levels.items() if k != "none"},
        "outflow_warnings": dict(totals.signal_levels["outflow"]),
        "complaint_warnings": dict(totals.signal_levels["complaint"]),
        "alert_levels": dict(totals.signal_levels["alert"]),
        "warning_rules": {
            "outflow": fit.settings.outflow_warning.as_dict(),
            "complaint": fit.settings.complaint_warning.as_dict(),
        },
        "strategic_clients": int(totals.strategic),
        "closing_accounts": int(totals.closing),
        "degraded": degraded,
    }
