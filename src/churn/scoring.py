"""Churn scoring end to end: backtest the candidates, choose, calibrate, warn, explain.

Pure: data frames and parameters in, a :class:`ChurnResult` out (the stage writes it).

Choice (``churn.model: auto``): on the backtest window every available candidate gets ROC
AUC, PR AUC and Brier score (after out-of-fold calibration); the candidate with the best mean
rank over the three wins (ties: higher ROC AUC, then the order btyd, survival, gbm). The
chosen score's calibration map is then fitted on the whole backtest window and applied to
the scores as of ``as_of``. When the history is too short for a backtest at the full
horizon, the candidates are ranked on a proxy horizon (half the history) and the chosen
score is mapped rank-preservingly onto the BTYD probabilities (quantile mapping: the order
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

from churn.backtest import BacktestWindows, backtest_windows, churn_labels
from churn.calibration import (
    Calibrator,
    calibration_table,
    cross_fitted,
    gain_points,
    quantile_map_fitted,
    roc_points,
    score_metrics,
)
from churn.classifier import ChurnClassifier
from churn.reasons import ReasonModel, explain, fit_reasons
from churn.survival import (
    GapSurvivalModel,
    client_type_levels,
    gaps_at,
    inter_purchase_gaps,
    kaplan_meier_curves,
    survival_covariates,
)
from churn.warning import strategic_by_cut, strategic_cut, warning_levels
from kequn.log import get_logger, timed
from kequn.settings import settings_from

log = get_logger("churn")

CANDIDATES = ("btyd", "survival", "gbm")
#: the classifier needs at least this many churners and this many active customers to train
MIN_CLASS_TO_TRAIN = 20
#: the backtest needs at least this many of each class to rank and calibrate
MIN_CLASS_TO_EVALUATE = 10
#: shortest proxy backtest horizon (days) worth ranking the candidates on
MIN_PROXY_HORIZON_DAYS = 14
#: median_days_to_inactivity is capped here (days): "not within ten years"
MAX_DAYS_TO_INACTIVITY = 3650
CLIENT_COLUMNS = ("client_type", "industry", "region", "open_date", "asset_balance", "close_date")


@dataclass(frozen=True)
class ChurnSettings:
    """The ``churn`` parameters, checked."""

    horizon_days: int
    model: str
    calibration: str
    thresholds: dict[str, float]
    value_weighted: bool
    max_reasons: int
    unit_days: float
    trend_window_days: int
    strategic_share: float
    seed: int


def read_settings(params: dict[str, Any]) -> ChurnSettings:
    """The ``churn`` section (plus features, seed, the strategic tier share) from
    :mod:`kequn.settings`, where it is validated (a bad value is a one-line UserError)."""
    settings = settings_from(params)
    churn = settings.churn
    return ChurnSettings(
        horizon_days=churn.horizon_days,
        model=churn.model,
        calibration=churn.calibration,
        thresholds=churn.thresholds.as_dict(),
        value_weighted=churn.value_weighted,
        max_reasons=churn.max_reasons,
        unit_days=float(settings.features.time_unit_days),
        trend_window_days=settings.features.trend_window_days,
        strategic_share=settings.segmentation.tier_shares.strategic,
        seed=settings.seed,
    )


@dataclass
class ChurnResult:
    """What the stage writes: the per-customer table, the metrics and the plot tables."""

    table: pd.DataFrame
    metrics: dict[str, Any]
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)


def clients_from_customers(customers: pd.DataFrame) -> pd.DataFrame | None:
    """The client-master columns carried by customers.parquet, for features at earlier dates."""
    columns = [c for c in CLIENT_COLUMNS if c in customers]
    return customers[["customer_id", *columns]] if columns else None


def btyd_no_transaction(
    model: Any, features: pd.DataFrame, horizon_days: int, unit_days: float
) -> np.ndarray:
    """P(no transaction in (T, T + horizon]) from a fitted BTYD model (ltv API)."""
    p = model.probability_no_transactions(
        horizon_days / unit_days,
        features["frequency"].to_numpy(dtype=float),
        features["recency"].to_numpy(dtype=float),
        features["T"].to_numpy(dtype=float),
    )
    return np.clip(np.asarray(p, dtype=float), 0.0, 1.0)


def _closing(features: pd.DataFrame, as_of: dt.date, horizon_days: int) -> np.ndarray:
    if "close_date" not in features:
        return np.zeros(len(features), dtype=bool)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=horizon_days)
    return (pd.to_datetime(features["close_date"]) <= end).fillna(False).to_numpy(dtype=bool)


def _fit_survival(gaps: pd.DataFrame, features: pd.DataFrame, seed: int):
    covariates = survival_covariates(features)
    return GapSurvivalModel(seed=seed).fit(gaps, covariates), covariates


def _columnar(transactions: pd.DataFrame) -> pd.DataFrame:
    """The transactions with Arrow-backed columns, which DuckDB scans without converting
    Python objects (the two feature tables of the backtest: 5 s -> 2 s on the sample);
    the frame as it is when a column does not convert."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(transactions, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return transactions
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _survival_scores(
    model: GapSurvivalModel, features: pd.DataFrame, covariates: pd.DataFrame, h: int
):
    aligned = covariates.reindex(features["customer_id"].to_numpy())
    return model.churn_probability(features["days_since_last"].to_numpy(dtype=float), h, aligned)


def _finite(value: float) -> float | None:
    """A number for churn.json; None instead of NaN (not valid JSON)."""
    return float(value) if np.isfinite(value) else None


def _rank_choice(metrics: dict[str, dict[str, Any]]) -> tuple[str, str]:
    names = list(metrics)
    table = pd.DataFrame(
        {
            "roc_auc": [metrics[n]["calibrated"]["roc_auc"] for n in names],
            "pr_auc": [metrics[n]["calibrated"]["pr_auc"] for n in names],
            "brier": [metrics[n]["calibrated"]["brier"] for n in names],
            "order": [CANDIDATES.index(n) for n in names],
        },
        index=names,
    )
    ranks = pd.concat(
        [
            table["roc_auc"].rank(ascending=False),
            table["pr_auc"].rank(ascending=False),
            table["brier"].rank(ascending=True),
        ],
        axis=1,
    ).mean(axis=1)
    table["mean_rank"] = ranks
    best = table.sort_values(
        ["mean_rank", "roc_auc", "order"], ascending=[True, False, True]
    ).index[0]
    why = (
        "best mean rank over ROC AUC, PR AUC and Brier on the backtest "
        f"({table.loc[best, 'mean_rank']:.2f}; "
        f"ROC AUC {table.loc[best, 'roc_auc']:.3f}, PR AUC {table.loc[best, 'pr_auc']:.3f}, "
        f"Brier {table.loc[best, 'brier']:.4f} after calibration)"
    )
    return str(best), why


@dataclass
class ChurnFit:
    """Everything scoring needs, learnt on the fit sample: small, whatever the population.

    ``survival`` (Cox model as of ``as_of``) with its ``client_types`` levels; the chosen
    candidate, its ``classifier`` and ``calibrator``; for the quantile map the fit sample's
    sorted raw scores ``map_scores`` and BTYD probabilities ``map_reference``; the strategic
    cut ``(strategic_threshold, strategic_ties)`` (None: no value weighting); the reasons'
    surrogate; and the fit's part of churn.json, the plot tables and the degradations.
    """

    settings: ChurnSettings
    as_of: dt.date
    chosen: str
    survival: GapSurvivalModel
    client_types: list[str] | None
    transaction_model: Any
    classifier: ChurnClassifier | None
    calibrator: Calibrator | None
    calibration_used: str
    map_scores: np.ndarray | None = None
    map_reference: np.ndarray | None = None
    strategic_threshold: float | None = None
    strategic_ties: int = 0
    value_weighting_skipped: bool = False
    reasons: ReasonModel | None = None
    fit_customers: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)


@dataclass
class ScoredChunk:
    """One scored chunk: the churn.parquet rows and what the metrics add up."""

    table: pd.DataFrame
    missing: int
    strategic_ties: int
    closing: int


@dataclass
class ScoreTotals:
    """Counts accumulated over the scored chunks (churn.json's population figures).

    The mean probability is kept as an integer sum of millionths (the probabilities are
    rounded to 6 decimals), so it does not depend on how the customers were chunked.
    """

    customers: int = 0
    micro_sum: int = 0
    levels: dict[str, int] = field(
        default_factory=lambda: {lvl: 0 for lvl in ("red", "orange", "yellow", "none")}
    )
    strategic: int = 0
    closing: int = 0
    missing: int = 0
    strategic_ties: int = 0

    def add(self, chunk: ScoredChunk) -> None:
        table = chunk.table
        self.customers += len(table)
        p = table["churn_probability"].to_numpy(dtype=float)
        self.micro_sum += int(np.round(p * 1e6).astype(np.int64).sum())
        counts = table["warning_level"].value_counts()
        for lvl in self.levels:
            self.levels[lvl] += int(counts.get(lvl, 0))
        self.strategic += int(table["strategic_client"].sum())
        self.closing += chunk.closing
        self.missing += chunk.missing
        self.strategic_ties += chunk.strategic_ties


def score_churn(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    value: pd.DataFrame | None,
    as_of: dt.date,
    params: dict[str, Any],
    transaction_model: Any = None,
) -> ChurnResult:
    """Backtest, choose, calibrate and score churn for every customer of ``customers``:
    :func:`fit_churn` on everyone, then :func:`score_customers` in one chunk.

    ``customers``: the feature table as of ``as_of`` (customers.parquet); ``value``:
    ``customer_id, clv[, value_percentile]`` (ltv.parquet) or None; ``transaction_model``:
    the fitted BTYD model from the ltv stage (its class is refitted at the backtest cut-off).
    """
    fit = fit_churn(transactions, customers, value, as_of, params, transaction_model)
    clv = None
    if value is not None and "clv" in value:
        clv = customers[["customer_id"]].merge(value, on="customer_id", how="left")["clv"]
    totals = ScoreTotals()
    chunk = score_customers(fit, customers, clv)
    totals.add(chunk)
    return ChurnResult(table=chunk.table, metrics=churn_metrics(fit, totals), plots=fit.plots)


def fit_churn(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    value: pd.DataFrame | None,
    as_of: dt.date,
    params: dict[str, Any],
    transaction_model: Any = None,
    population: int | None = None,
) -> ChurnFit:
    """Learn everything churn scoring needs from a customer sample (or everyone).

    ``transactions``, ``customers`` (feature rows as of ``as_of``) and ``value`` (ltv rows)
    of the same customers; ``population``: how many customers will be scored (scales the
    strategic ties; default: as many as ``customers``).

    BLAS and OpenMP run on one thread: the matrices are small (tens of thousands of rows,
    a few dozen columns), and idle BLAS threads spinning between calls doubled the CPU time
    of the survival fits on a busy 2-core machine.
    """
    with threadpool_limits(1):
        return _fit_churn(
            transactions, customers, value, as_of, params, transaction_model, population
        )


def _fit_churn(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    value: pd.DataFrame | None,
    as_of: dt.date,
    params: dict[str, Any],
    transaction_model: Any,
    population: int | None,
) -> ChurnFit:
    from features import split_at

    s = read_settings(params)
    h = s.horizon_days
    windows: BacktestWindows = backtest_windows(as_of, h)
    clients = clients_from_customers(customers)
    feature_args = {
        "unit_days": s.unit_days,
        "trend_window_days": s.trend_window_days,
        "clients": clients,
    }
    dates = pd.to_datetime(transactions["date"])
    tx = transactions.loc[dates <= pd.Timestamp(as_of)]
    first_date = dates[dates <= pd.Timestamp(as_of)].min().date() if len(tx) else as_of
    tx_columnar = _columnar(tx)  # for the feature tables at the backtest cut-offs
    gaps = inter_purchase_gaps(tx, as_of)  # at earlier cut-offs: gaps_at(gaps, cutoff)
    degraded: list[str] = []

    def degrade(message: str) -> None:
        log.warning("degraded: %s", message)
        degraded.append(message)

    # ---- backtest window: features as of A - h, outcome in (A - h, A]
    # When the history is shorter than the horizon, a proxy horizon of half the history
    # still ranks the unsupervised candidates (btyd, survival); no classifier, no calibration.
    backtest_h = h
    if windows.eval_cutoff < first_date:
        backtest_h = (as_of - first_date).days // 2
        if backtest_h >= MIN_PROXY_HORIZON_DAYS:
            degrade(
                f"horizon_longer_than_history: as_of - horizon ({windows.eval_cutoff}) is before "
                f"the first transaction ({first_date}); btyd and survival ranked on a "
                f"{backtest_h}-day proxy backtest; no classifier, no calibration"
            )
        else:
            degrade(
                f"horizon_longer_than_history: as_of - horizon ({windows.eval_cutoff}) is before "
                f"the first transaction ({first_date}); no backtest, no classifier, no calibration"
            )
            backtest_h = 0
    proxy = backtest_h != h
    eval_window = backtest_windows(as_of, max(backtest_h, 1))
    eval_features = pd.DataFrame()
    y_eval = np.zeros(0, dtype=np.int8)
    if backtest_h > 0:
        with timed(log, f"backtest features as of {eval_window.eval_cutoff}"):
            eval_features, eval_holdout = split_at(
                tx_columnar, eval_window.eval_cutoff, as_of, **feature_args
            )
        y_eval = churn_labels(
            eval_features["customer_id"],
            eval_holdout["holdout_transactions"],
            eval_window.eval_cutoff,
            backtest_h,
            eval_features.get("close_date"),
        )
    counts = np.bincount(y_eval, minlength=2)
    backtest_ok = len(y_eval) > 0 and counts.min() >= MIN_CLASS_TO_EVALUATE
    if len(y_eval) > 0 and not backtest_ok:
        degrade(
            f"backtest_too_few_of_a_class: {counts[1]} churners and {counts[0]} active in "
            f"({eval_window.eval_cutoff}, {as_of}] (need {MIN_CLASS_TO_EVALUATE} each); no backtest"
        )

    eval_scores: dict[str, np.ndarray] = {}
    candidate_info: dict[str, dict[str, Any]] = {}
    classifier = None
    if backtest_ok:
        if transaction_model is None:
            degrade("btyd_unavailable: no transaction model from the ltv stage")
        else:
            try:
                with timed(
                    log,
                    f"BTYD {type(transaction_model).__name__} as of {eval_window.eval_cutoff}",
                ):
                    penalizer = getattr(transaction_model, "penalizer", 0.0)
                    refit = type(transaction_model)(penalizer=penalizer).fit(
                        eval_features["frequency"].to_numpy(float),
                        eval_features["recency"].to_numpy(float),
                        eval_features["T"].to_numpy(float),
                    )
                    eval_scores["btyd"] = btyd_no_transaction(
                        refit, eval_features, backtest_h, s.unit_days
                    )
            except Exception as exc:  # a model that cannot be fitted is a degradation, not a crash
                degrade(
                    f"btyd_failed: {type(transaction_model).__name__} could not be refitted ({exc})"
                )
        with timed(log, f"survival model as of {eval_window.eval_cutoff}"):
            eval_survival, eval_cov = _fit_survival(
                gaps_at(gaps, eval_window.eval_cutoff), eval_features, s.seed
            )
            eval_scores["survival"] = _survival_scores(
                eval_survival, eval_features, eval_cov, backtest_h
            )
            candidate_info["survival"] = {
                "concordance_index": _finite(eval_survival.concordance_index_)
            }
        if not proxy:
            classifier = _train_classifier(
                tx_columnar, windows, first_date, s, feature_args, degrade
            )
        if classifier is not None:
            eval_scores["gbm"] = classifier.predict_proba(eval_features)
            candidate_info["gbm"] = {
                "n_train": classifier.n_train_,
                "train_churn_rate": classifier.churn_rate_,
            }

    backtest: dict[str, dict[str, Any]] = {}
    for name, score in eval_scores.items():
        score = np.nan_to_num(score, nan=float(np.mean(y_eval)))
        eval_scores[name] = score
        backtest[name] = {
            "raw": score_metrics(score, y_eval),
            "calibrated": score_metrics(cross_fitted(score, y_eval, s.calibration, s.seed), y_eval),
            **candidate_info.get(name, {}),
        }

    # ---- choice
    if backtest:
        auto_choice, why = _rank_choice(backtest)
        if proxy:
            why += f"; ranked on a {backtest_h}-day proxy horizon, so left uncalibrated"
        if s.model == "auto":
            chosen = auto_choice
        elif s.model in backtest:
            chosen, why = s.model, "set by churn.model"
        else:
            chosen = auto_choice
            degrade(
                f"model_unavailable: churn.model={s.model} could not be evaluated; using {chosen}"
            )
    else:
        chosen = "btyd" if transaction_model is not None else "survival"
        why = "no usable backtest: the transaction model's own probability, uncalibrated"
        if chosen == "survival":
            why = "no usable backtest and no transaction model: the survival model, uncalibrated"
        if s.model not in ("auto", chosen):
            degrade(f"model_unavailable: churn.model={s.model} needs the backtest; using {chosen}")

    # ---- the models as of A, and how their scores become probabilities
    with timed(log, f"survival model as of {as_of}"):
        client_types = client_type_levels(customers)
        survival = GapSurvivalModel(seed=s.seed).fit(
            gaps, survival_covariates(customers, client_types)
        )
    fit = ChurnFit(
        settings=s,
        as_of=as_of,
        chosen=chosen,
        survival=survival,
        client_types=client_types,
        transaction_model=transaction_model,
        classifier=classifier,
        calibrator=None,
        calibration_used="none",
        fit_customers=int(len(customers)),
        degraded=degraded,
    )
    survival_now, btyd_now, btyd_error, _ = _model_scores(fit, customers)
    if chosen == "btyd" and btyd_now is None:
        degrade(f"btyd_failed: scoring with the transaction model failed ({btyd_error})")
        fit.chosen = chosen = "survival"
    raw = _chosen_score(fit, customers, survival_now, btyd_now)
    raw = np.where(np.isnan(raw), survival_now, raw)
    if chosen in eval_scores and not proxy:
        fit.calibrator = Calibrator(s.calibration).fit(eval_scores[chosen], y_eval)
        fit.calibration_used = s.calibration
    elif chosen != "btyd" and btyd_now is not None and np.isfinite(btyd_now).all():
        # no outcomes at the right horizon: keep the chosen ranking, take the levels from
        # the transaction model's own probabilities (rank-preserving quantile mapping)
        fit.map_scores = np.sort(raw)
        fit.map_reference = np.sort(btyd_now)
        fit.calibration_used = "quantile_map_to_btyd"
    probability, _ = _probability(fit, customers, raw)

    # ---- value weighting and the reasons' surrogate, from the same customers
    value_frame = (
        customers[["customer_id"]].merge(value, on="customer_id", how="left")
        if value is not None
        else None
    )
    if s.value_weighted:
        if value_frame is not None and "clv" in value_frame:
            threshold, ties = strategic_cut(value_frame["clv"], s.strategic_share)
            scale = (population or len(customers)) / max(len(customers), 1)
            fit.strategic_threshold = threshold
            fit.strategic_ties = int(round(ties * scale))
        else:
            fit.value_weighting_skipped = True
    fit.reasons = fit_reasons(
        customers,
        probability,
        as_of=as_of,
        horizon_days=h,
        trend_window_days=s.trend_window_days,
    )

    fit.plots = _plots(eval_scores, y_eval, chosen, s, gaps, customers, value_frame, h)
    fit.metrics = {
        "as_of": as_of.isoformat(),
        "horizon_days": h,
        "windows": {
            "train_features_as_of": windows.train_cutoff.isoformat(),
            "train_labels": [d.isoformat() for d in windows.train_label_window],
            "backtest_features_as_of": eval_window.eval_cutoff.isoformat(),
            "backtest_labels": [d.isoformat() for d in eval_window.eval_label_window],
            "backtest_horizon_days": backtest_h,
        },
        "backtest": backtest,
        "backtest_customers": int(len(y_eval)),
        "backtest_is_proxy": bool(proxy and backtest_h > 0),
        "backtest_churn_rate": float(y_eval.mean()) if len(y_eval) else None,
        "chosen": chosen,
        "requested": s.model,
        "why": why,
        "calibration": fit.calibration_used,
        "survival": {
            "concordance_index": _finite(survival.concordance_index_),
            "hazard_ratios": {k: float(np.exp(v)) for k, v in survival.coef_.items()},
            "n_gaps": survival.n_gaps_,
            "n_returns": survival.n_events_,
            "median_days_cap": MAX_DAYS_TO_INACTIVITY,
        },
    }
    return fit


def _model_scores(
    fit: ChurnFit, customers: pd.DataFrame, *, btyd: bool = True
) -> tuple[np.ndarray, np.ndarray | None, Any, pd.DataFrame]:
    """Survival and BTYD P(churn) as of A: ``(survival, btyd or None, the BTYD error, the
    survival covariates row-aligned with customers)``; BTYD only when ``btyd``."""
    h = fit.settings.horizon_days
    covariates = survival_covariates(customers, fit.client_types)
    aligned = covariates.reindex(customers["customer_id"].to_numpy())
    days_since_last = customers["days_since_last"].to_numpy(dtype=float)
    survival_now = fit.survival.churn_probability(days_since_last, h, aligned)
    btyd_now, btyd_error = None, "no transaction model"
    if not btyd:
        btyd_error = "not needed"
    elif fit.transaction_model is not None:
        try:
            btyd_now = btyd_no_transaction(
                fit.transaction_model, customers, h, fit.settings.unit_days
            )
        except Exception as exc:  # reported by the caller only if the BTYD score is needed
            btyd_error = exc
    return survival_now, btyd_now, btyd_error, aligned


def _chosen_score(
    fit: ChurnFit, customers: pd.DataFrame, survival_now: np.ndarray, btyd_now: np.ndarray | None
) -> np.ndarray:
    """The chosen candidate's raw score (NaN where it has none; BTYD failing: all NaN)."""
    if fit.chosen == "btyd":
        return btyd_now if btyd_now is not None else np.full(len(customers), np.nan)
    if fit.chosen == "gbm":
        return fit.classifier.predict_proba(customers)
    return survival_now


def _probability(
    fit: ChurnFit, customers: pd.DataFrame, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probability (closing accounts: 1), rounded to 6 decimals; and ``closing``.

    Without a calibration map: the fit sample's quantile map onto the BTYD probabilities
    (:func:`churn.calibration.quantile_map_fitted`), else the raw score clipped to [0, 1].
    """
    if fit.calibrator is not None:
        probability = fit.calibrator.transform(raw)
    elif fit.map_scores is not None:
        probability = quantile_map_fitted(raw, fit.map_scores, fit.map_reference)
    else:
        probability = np.clip(raw, 0.0, 1.0)
    closing = _closing(customers, fit.as_of, fit.settings.horizon_days)
    return np.where(closing, 1.0, probability).round(6), closing


def score_customers(
    fit: ChurnFit,
    customers: pd.DataFrame,
    clv: pd.Series | None = None,
    strategic_ties_seen: int = 0,
) -> ScoredChunk:
    """churn.parquet rows for a chunk of customers (feature rows as of ``fit.as_of``).

    ``clv``: the chunk's CLV, aligned with ``customers`` (None: no value weighting);
    ``strategic_ties_seen``: clients tied at the strategic threshold marked in earlier
    chunks. Nothing here depends on the other chunks: the same customer gets the same row
    whatever the chunking.
    """
    with threadpool_limits(1):
        return _score_customers(fit, customers, clv, strategic_ties_seen)


def _score_customers(
    fit: ChurnFit, customers: pd.DataFrame, clv: pd.Series | None, strategic_ties_seen: int
) -> ScoredChunk:
    s = fit.settings
    h = s.horizon_days
    # the BTYD score is only read when it is the chosen one (the quantile map is stored)
    survival_now, btyd_now, _, aligned = _model_scores(fit, customers, btyd=fit.chosen == "btyd")
    raw = _chosen_score(fit, customers, survival_now, btyd_now)
    missing = int(np.isnan(raw).sum())
    raw = np.where(np.isnan(raw), survival_now, raw)
    probability, closing = _probability(fit, customers, raw)

    strategic = np.zeros(len(customers), dtype=bool)
    ties = 0
    if fit.strategic_threshold is not None and clv is not None:
        strategic, ties = strategic_by_cut(
            clv.reset_index(drop=True),
            fit.strategic_threshold,
            fit.strategic_ties,
            strategic_ties_seen,
        )
    levels = warning_levels(probability, s.thresholds, strategic)
    reasons = explain(
        customers,
        probability,
        levels != "none",
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
            "raw_score": np.round(raw, 6),
        }
    )
    return ScoredChunk(
        table=table, missing=missing, strategic_ties=ties, closing=int(closing.sum())
    )


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
        "strategic_clients": int(totals.strategic),
        "closing_accounts": int(totals.closing),
        "degraded": degraded,
    }


def _train_classifier(tx, windows, first_date, s, feature_args, degrade) -> ChurnClassifier | None:
    """The GBM trained on features as of A - 2h and labels from (A - 2h, A - h], or None."""
    from features import split_at

    if windows.train_cutoff < first_date:
        degrade(
            f"gbm_unavailable: as_of - 2*horizon ({windows.train_cutoff}) is before the first "
            f"transaction ({first_date}); no training window for the classifier"
        )
        return None
    with timed(log, f"classifier training features as of {windows.train_cutoff}"):
        train_features, train_holdout = split_at(
            tx, windows.train_cutoff, windows.eval_cutoff, **feature_args
        )
    y_train = churn_labels(
        train_features["customer_id"],
        train_holdout["holdout_transactions"],
        windows.train_cutoff,
        s.horizon_days,
        train_features.get("close_date"),
    )
    counts = np.bincount(y_train, minlength=2)
    if counts.min() < MIN_CLASS_TO_TRAIN:
        kind = "single_class" if counts.min() == 0 else "too_few_churners"
        degrade(
            f"gbm_{kind}: {counts[1]} churners and {counts[0]} active customers in the training "
            f"window (need {MIN_CLASS_TO_TRAIN} of each); classifier dropped"
        )
        return None
    with timed(log, f"classifier on {len(y_train)} customers"):
        return ChurnClassifier(seed=s.seed).fit(train_features, y_train)


def _plots(
    eval_scores, y_eval, chosen, s, gaps, customers, value_frame, h
) -> dict[str, pd.DataFrame]:
    if eval_scores:
        roc = pd.concat(
            [roc_points(score, y_eval, name) for name, score in eval_scores.items()],
            ignore_index=True,
        )
        calibrated = (
            cross_fitted(eval_scores[chosen], y_eval, s.calibration, s.seed)
            if chosen in eval_scores
            else None
        )
        calibration = (
            calibration_table(calibrated, y_eval)[["predicted", "observed"]].round(6)
            if calibrated is not None
            else pd.DataFrame({"predicted": [], "observed": []})
        )
        gain = gain_points(eval_scores.get(chosen, next(iter(eval_scores.values()))), y_eval)
    else:
        roc = pd.DataFrame({"false_positive_rate": [], "true_positive_rate": [], "model": []})
        calibration = pd.DataFrame({"predicted": [], "observed": []})
        gain = pd.DataFrame({"share_of_customers": [], "model": [], "random": []})
    groups = [pd.DataFrame({"customer_id": customers["customer_id"], "group": "all"})]
    if value_frame is not None and "value_percentile" in value_frame:
        pct = pd.to_numeric(value_frame["value_percentile"], errors="coerce")
        band = np.select([pct >= 80, pct >= 20], ["clv_top_20", "clv_middle_60"], "clv_bottom_20")
        groups.append(
            pd.DataFrame({"customer_id": value_frame["customer_id"], "group": band})[
                pct.notna().to_numpy()
            ]
        )
    if "client_type" in customers:
        kinds = customers["client_type"].fillna("").astype(str)
        groups.append(
            pd.DataFrame(
                {"customer_id": customers["customer_id"], "group": "client_type_" + kinds}
            )[kinds.ne("").to_numpy()]
        )
    max_days = float(min(3 * h, gaps["duration_days"].max() if len(gaps) else h))
    km = kaplan_meier_curves(gaps, pd.concat(groups, ignore_index=True), max_days)
    return {"churn_roc": roc, "churn_calibration": calibration, "churn_gain": gain, "churn_km": km}
