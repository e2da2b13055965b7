"""DVC stage ``ltv``: backtest the candidates, choose one, score CLV as of ``as_of``.

Inputs: ``data/interim/transactions.parquet``, ``data/processed/customers.parquet``,
params (``as_of``, ``seed``, ``features``, ``ltv``). Outputs (atomic):
``data/processed/ltv.parquet``, ``models/transaction_model.json`` (the best probabilistic
model, always), ``models/spend_model.json`` (Gamma-Gamma), ``reports/metrics/ltv.json`` and
the plot tables ``reports/plots/ltv_{calibration,deciles,gain}.csv``.

Model choice (``ltv.model: auto``): every candidate is fitted as of ``as_of -
ltv.holdout_days`` and scored on the holdout (see :mod:`ltv.backtest`); the one with the
lowest per-customer MAE of holdout value wins (ties: smaller aggregate value error); it is
then refitted as of ``as_of``. A named model is used as named; the backtest still runs so
the metrics compare it with the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kequn.config import resolve_as_of, section
from kequn.errors import UserError
from kequn.io import write_bytes, write_csv, write_json, write_parquet
from kequn.log import get_logger, timed
from ltv import customer_lifetime_value
from ltv.backtest import (
    CANDIDATES,
    TRANSACTION_MODELS,
    BacktestResult,
    calibration_by_frequency,
    choose_model,
    decile_table,
    fit_spend_model,
    fit_summary,
    gain_curve,
    run_backtest,
    spend_inputs,
)
from ltv.gbm import (
    GradientBoostingValueModel,
    cannot_train,
    horizon_scale,
    lifetime_value,
    scoring_windows,
    training_table,
)

TRANSACTIONS = Path("data/interim/transactions.parquet")
CUSTOMERS = Path("data/processed/customers.parquet")
LTV_TABLE = Path("data/processed/ltv.parquet")
TRANSACTION_MODEL = Path("models/transaction_model.json")
SPEND_MODEL = Path("models/spend_model.json")
METRICS = Path("reports/metrics/ltv.json")
PLOT_CALIBRATION = Path("reports/plots/ltv_calibration.csv")
PLOT_DECILES = Path("reports/plots/ltv_deciles.csv")
PLOT_GAIN = Path("reports/plots/ltv_gain.csv")

#: how ltv.model: auto chooses (ltv.backtest.choose_model)
CRITERION = "lowest per-customer MAE of holdout value; ties: smaller |aggregate value error|"
#: default probabilistic model when no backtest can choose one
DEFAULT_TRANSACTION_MODEL = "bgnbd"
#: ltv.parquet columns in order (docs/outputs.md)
OUTPUT_COLUMNS = [
    "customer_id",
    "expected_transactions",
    "probability_alive",
    "expected_value_per_transaction",
    "clv",
    "clv_low",
    "clv_high",
    "revenue_contribution",
    "profit_contribution",
    "value_percentile",
    "model",
]

log = get_logger("ltv")


# ------------------------------------------------------------------ parameters


def _number(settings: Mapping[str, Any], key: str, default: Any, *, minimum: float = 0.0) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise UserError(f"params.yaml: ltv.{key}={value!r} must be a number >= {minimum:g}")
    return float(value)


def _positive_int(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"params.yaml: ltv.{key}={value!r} must be a whole number >= 1")
    return value


def read_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The validated ``ltv`` settings (plus unit, trend window and seed) with defaults."""
    ltv = section(dict(params), "ltv")
    features = section(dict(params), "features")
    model = ltv.get("model", "auto")
    if model not in ("auto", *CANDIDATES):
        choices = " | ".join(("auto", *CANDIDATES))
        raise UserError(f"params.yaml: ltv.model={model!r} must be one of {choices}")
    margin = ltv.get("margin", 0.02)
    if isinstance(margin, Mapping):
        if not margin:
            raise UserError("params.yaml: ltv.margin mapping is empty")
        for line, value in margin.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UserError(f"params.yaml: ltv.margin.{line}={value!r} must be a number")
        margin = {str(k): float(v) for k, v in margin.items()}
    elif isinstance(margin, bool) or not isinstance(margin, int | float):
        raise UserError(f"params.yaml: ltv.margin={margin!r} must be a number or a mapping")
    else:
        margin = float(margin)
    interval = ltv.get("interval", [0.1, 0.9])
    if (
        not isinstance(interval, list | tuple)
        or len(interval) != 2
        or not all(isinstance(q, int | float) and not isinstance(q, bool) for q in interval)
        or not 0 < interval[0] < interval[1] < 1
    ):
        raise UserError(
            f"params.yaml: ltv.interval={interval!r} must be [low, high], 0 < low < high < 1"
        )
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"params.yaml: seed={seed!r} must be a whole number")
    return {
        "model": model,
        "holdout_days": _positive_int(ltv, "holdout_days", 182),
        "horizon_months": _positive_int(ltv, "horizon_months", 12),
        "discount_rate": _number(ltv, "discount_rate", 0.008),
        "margin": margin,
        "service_cost_per_transaction": _number(ltv, "service_cost_per_transaction", 0.0),
        "acquisition_cost": _number(ltv, "acquisition_cost", 0.0),
        "penalizer": _number(ltv, "penalizer", 0.0),
        "interval": (float(interval[0]), float(interval[1])),
        "interval_draws": _positive_int(ltv, "interval_draws", 200),
        "unit_days": _positive_int(features, "time_unit_days", 7),
        "trend_window_days": _positive_int(features, "trend_window_days", 90),
        "seed": seed,
    }


# ------------------------------------------------------------------ pure steps


def customer_margin(customers: pd.DataFrame, margin: float | Mapping[str, float]) -> np.ndarray:
    """Each customer's margin on transaction value.

    A scalar applies to everyone. A mapping product line -> margin gives
    margin_i = sum_c share_product_<c>_i * margin_c over the product shares of the customer's
    value; a product line in the data without a margin in the mapping counts at the mean of
    the mapping's margins, and a customer without any product share gets that mean.
    """
    n = len(customers)
    if not isinstance(margin, Mapping):
        return np.full(n, float(margin))
    mean_margin = float(np.mean(list(margin.values())))
    share_columns = [c for c in customers.columns if c.startswith("share_product_")]
    if not share_columns:
        return np.full(n, mean_margin)
    lines = [c.removeprefix("share_product_") for c in share_columns]
    unmapped = [line for line in lines if line not in margin]
    if unmapped:
        log.warning(
            "ltv.margin has no margin for product line(s) %s: using the mean %.4g",
            ", ".join(unmapped),
            mean_margin,
        )
    rates = np.array([margin.get(line, mean_margin) for line in lines])
    shares = customers[share_columns].to_numpy(dtype=float)
    shares = np.nan_to_num(shares, nan=0.0)
    has_share = np.abs(shares).sum(axis=1) > 0
    return np.where(has_share, shares @ rates, mean_margin)


def value_percentile(clv: Any) -> np.ndarray:
    """Percentile of each CLV among all customers, 0-100: 100 * (rank - 1) / (n - 1),
    ties sharing their lowest rank (one customer: 100)."""
    clv = pd.Series(np.asarray(clv, dtype=float))
    n = len(clv)
    if n <= 1:
        return np.full(n, 100.0)
    return ((clv.rank(method="min") - 1) / (n - 1) * 100.0).to_numpy()


def choose(settings: Mapping[str, Any], result: BacktestResult) -> dict[str, Any]:
    """The scoring model and the best probabilistic transaction model, with the reasons."""
    requested = settings["model"]
    probabilistic = {k: v for k, v in result.metrics.items() if k in TRANSACTION_MODELS}
    if probabilistic:
        best_probabilistic, prob_reason = choose_model(probabilistic)
    else:
        best_probabilistic = DEFAULT_TRANSACTION_MODEL
        prob_reason = f"no probabilistic backtest possible: default {DEFAULT_TRANSACTION_MODEL}"
    candidates = {k: v for k, v in result.metrics.items() if k in CANDIDATES}
    if requested != "auto":
        model, reason = requested, f"ltv.model={requested} set in params.yaml"
    elif candidates:
        model, reason = choose_model(candidates)
    else:
        model, reason = best_probabilistic, prob_reason
    transaction_model = requested if requested in TRANSACTION_MODELS else best_probabilistic
    choice = {
        "requested": requested,
        "model": model,
        "transaction_model": transaction_model,
        "criterion": CRITERION,
        "reason": reason,
        "transaction_model_reason": prob_reason,
    }
    baseline = result.metrics.get("past_value_repeats")
    chosen = result.metrics.get(model)
    if baseline and chosen and baseline["mae_value"] is not None:
        choice["beats_past_value_repeats"] = bool(chosen["mae_value"] < baseline["mae_value"])
        if not choice["beats_past_value_repeats"]:
            log.warning("chosen model %s does not beat 'past value repeats' on the backtest", model)
    return choice


def plot_tables(result: BacktestResult, choice: Mapping[str, Any]) -> dict[Path, pd.DataFrame]:
    """The three DVC plot tables from the backtest (empty with headers when none ran)."""
    table = result.holdout
    tm, model = choice["transaction_model"], choice["model"]
    if f"{tm}_transactions" in table:
        calibration = calibration_by_frequency(
            table["frequency"], table["actual_transactions"], table[f"{tm}_transactions"]
        )[["frequency", "actual", "predicted"]]
    else:
        calibration = pd.DataFrame(columns=["frequency", "actual", "predicted"])
    if f"{model}_value" in table:
        deciles = decile_table(table["actual_value"], table[f"{model}_value"])
        gain = gain_curve(table["actual_value"], table[f"{model}_value"])
    else:
        deciles = pd.DataFrame(columns=["decile", "customers", "actual", "predicted"])
        gain = pd.DataFrame(columns=["share_of_customers", "model", "random"])
    return {
        PLOT_CALIBRATION: calibration,
        PLOT_DECILES: deciles[["decile", "actual", "predicted"]],
        PLOT_GAIN: gain,
    }


def score_probabilistic(
    customers: pd.DataFrame, name: str, settings: Mapping[str, Any], margin: np.ndarray
) -> tuple[pd.DataFrame, Any, Any]:
    """Refit ``name`` and the Gamma-Gamma model as of ``as_of``; CLV per customer."""
    f, r, big_t, m = (
        customers[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    transaction_model = TRANSACTION_MODELS[name](penalizer=settings["penalizer"]).fit(f, r, big_t)
    try:
        spend_model = fit_spend_model(f, m, settings["penalizer"])
        monetary = spend_inputs(spend_model, f, m)
    except ValueError as exc:
        raise UserError(f"{CUSTOMERS}: cannot fit the Gamma-Gamma spend model: {exc}") from None
    scores = customer_lifetime_value(
        transaction_model,
        spend_model,
        f,
        r,
        big_t,
        monetary,
        horizon_months=settings["horizon_months"],
        unit_days=settings["unit_days"],
        discount_rate=settings["discount_rate"],
        margin=margin,
        service_cost_per_transaction=settings["service_cost_per_transaction"],
        acquisition_cost=settings["acquisition_cost"],
        interval=settings["interval"],
        n_draws=settings["interval_draws"],
        seed=settings["seed"],
    ).reset_index(drop=True)
    scores["probability_alive"] = np.asarray(transaction_model.probability_alive(f, r, big_t))
    return scores, transaction_model, spend_model


def score_gbm(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: dt.date,
    settings: Mapping[str, Any],
    margin: np.ndarray,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train on features as of ``as_of - H`` -> (as_of - H, as_of], apply to ``customers``
    (as of ``as_of``), scale the window prediction to the CLV horizon."""
    train, scored = scoring_windows(as_of, settings["holdout_days"])
    first_date = pd.to_datetime(transactions["date"]).min().date()
    if train.features_as_of <= first_date:
        raise UserError(
            f"params.yaml: ltv.model=gbm needs history before as_of - ltv.holdout_days "
            f"({train.features_as_of}) to train on; the data start {first_date}"
        )
    features, target = training_table(
        transactions,
        train,
        unit_days=settings["unit_days"],
        trend_window_days=settings["trend_window_days"],
    )
    problem = cannot_train(target, train)
    if problem:
        raise UserError(f"params.yaml: ltv.model=gbm cannot be trained: {problem}")
    booster = GradientBoostingValueModel(
        interval=settings["interval"], random_state=settings["seed"]
    )
    booster.fit(features, target["holdout_value"], target["holdout_transactions"])
    scale = horizon_scale(settings["holdout_days"], settings["horizon_months"])
    scores = lifetime_value(
        booster.predict(customers),
        scale=scale,
        horizon_months=settings["horizon_months"],
        discount_rate=settings["discount_rate"],
        margin=margin,
        service_cost_per_transaction=settings["service_cost_per_transaction"],
        acquisition_cost=settings["acquisition_cost"],
    )
    info = {
        "train_features_as_of": train.features_as_of.isoformat(),
        "train_target_end": train.target_end.isoformat(),
        "scored_features_as_of": scored.features_as_of.isoformat(),
        "train_customers": int(booster.n_customers_),
        "horizon_scale": scale,
    }
    return scores, info


# ------------------------------------------------------------------ stage


def _read_inputs(params: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, dt.date]:
    for path in (TRANSACTIONS, CUSTOMERS):
        if not path.exists():
            raise UserError(f"{path}: not found; run the earlier stages first (dvc repro)")
    transactions = pd.read_parquet(TRANSACTIONS)
    missing = {"customer_id", "date", "amount"} - set(transactions.columns)
    if missing:
        raise UserError(f"{TRANSACTIONS}: missing column(s) {', '.join(sorted(missing))}")
    if transactions.empty:
        raise UserError(f"{TRANSACTIONS}: no transactions")
    dates = pd.to_datetime(transactions["date"])
    as_of = resolve_as_of(dict(params), dates.max().date())
    transactions = transactions.loc[dates <= pd.Timestamp(as_of)].reset_index(drop=True)
    customers = pd.read_parquet(CUSTOMERS)
    missing = {"customer_id", "frequency", "recency", "T", "monetary_value"} - set(
        customers.columns
    )
    if missing:
        raise UserError(f"{CUSTOMERS}: missing column(s) {', '.join(sorted(missing))}")
    if customers.empty:
        raise UserError(f"{CUSTOMERS}: no customers")
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return transactions, customers, as_of


def run(params: dict) -> None:
    """Backtest, choose, score and write every ltv output."""
    settings = read_settings(params)
    with timed(log, "reading inputs"):
        transactions, customers, as_of = _read_inputs(params)
    log.info("%d transactions, %d customers, as_of %s", len(transactions), len(customers), as_of)

    with timed(log, f"backtest as of {as_of - dt.timedelta(days=settings['holdout_days'])}"):
        result = run_backtest(
            transactions,
            as_of,
            holdout_days=settings["holdout_days"],
            unit_days=settings["unit_days"],
            trend_window_days=settings["trend_window_days"],
            penalizer=settings["penalizer"],
            seed=settings["seed"],
        )
    for name, reason in result.skipped.items():
        log.warning("candidate %s skipped: %s", name, reason)
    for name, m in result.metrics.items():
        error = m.get("transactions_error")
        if error is not None and abs(error) > 1:
            log.warning(
                "candidate %s is off by %+.3g x the actual holdout transactions: check its fit",
                name,
                error,
            )
    choice = choose(settings, result)
    log.info("model %s (%s)", choice["model"], choice["reason"])

    margin = customer_margin(customers, settings["margin"])
    with timed(log, f"scoring with {choice['transaction_model']} + Gamma-Gamma"):
        scores, transaction_model, spend_model = score_probabilistic(
            customers, choice["transaction_model"], settings, margin
        )
    gbm_info = None
    if choice["model"] == "gbm":
        with timed(log, "scoring with gbm"):
            gbm_scores, gbm_info = score_gbm(transactions, customers, as_of, settings, margin)
        for column in gbm_scores.columns:
            scores[column] = gbm_scores[column].to_numpy()

    table = scores.assign(
        customer_id=customers["customer_id"].to_numpy(),
        value_percentile=value_percentile(scores["clv"]),
        model=choice["model"],
    )[OUTPUT_COLUMNS]

    metrics = {
        "as_of": as_of.isoformat(),
        "backtest_cutoff": result.cutoff.isoformat(),
        "holdout_days": settings["holdout_days"],
        "model": choice["model"],
        "choice": choice,
        "backtest": {k: v for k, v in result.metrics.items() if k in CANDIDATES},
        "baselines": {
            "past_value_repeats": result.metrics.get("past_value_repeats"),
            "best_probabilistic": {
                "model": choice["transaction_model"],
                **(result.metrics.get(choice["transaction_model"]) or {}),
            },
        },
        "backtest_fits": result.fits,
        "skipped": result.skipped,
        "scoring_fits": {
            choice["transaction_model"]: fit_summary(transaction_model),
            "gamma_gamma": fit_summary(spend_model),
            **({"gbm": gbm_info} if gbm_info else {}),
        },
        "scores": {
            "customers": len(table),
            "total_clv": float(table["clv"].sum()),
            "total_revenue_contribution": float(table["revenue_contribution"].sum()),
            "total_profit_contribution": float(table["profit_contribution"].sum()),
            "total_expected_transactions": float(table["expected_transactions"].sum()),
        },
    }
    plots = plot_tables(result, choice)
    if f"{choice['model']}_value" in result.holdout:
        deciles = plots[PLOT_DECILES]
        metrics["deciles"] = {
            str(int(row.decile)): {"actual": float(row.actual), "predicted": float(row.predicted)}
            for row in deciles.itertuples()
        }

    with timed(log, "writing outputs"):
        write_parquet(LTV_TABLE, table)
        write_bytes(TRANSACTION_MODEL, transaction_model.to_json().encode("utf-8"))
        write_bytes(SPEND_MODEL, spend_model.to_json().encode("utf-8"))
        write_json(METRICS, metrics)
        for path, frame in plots.items():
            write_csv(path, frame)
    log.info(
        "%d customers scored with %s; total CLV %.2f",
        len(table),
        choice["model"],
        metrics["scores"]["total_clv"],
    )
