"""Fitting churn on a customer sample: rolling backtest, choice, calibration, value cut.

Orchestrates :mod:`churn.rolling` (the candidates on several cut-offs), the choice, the
models as of ``as_of`` and their calibration into a :class:`churn.model.ChurnFit`; the
chunked scoring is :mod:`churn.scoring`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from churn.calibration import (
    calibration_table,
    gain_points,
    roc_points,
)
from churn.candidates import degenerate_reason, fit_blend
from churn.model import (
    MAX_DAYS_TO_INACTIVITY,
    ChurnFit,
    calibrated_probability,
    chosen_score,
    finite,
    model_scores,
)
from churn.reasons import fit_reasons
from churn.rolling import (
    FeatureCache,
    Origin,
    choose,
    comparable,
    origin_cutoffs,
    origin_metrics,
    rolling_backtest,
    signal_summary,
    summarise,
)
from churn.settings import ChurnSettings, read_settings
from churn.stack import fit_stack
from churn.survival import (
    GapSurvivalModel,
    client_type_levels,
    inter_purchase_gaps,
    kaplan_meier_curves,
    survival_covariates,
)
from kequn.log import get_logger, timed
from kequn.rules import tier_cut

log = get_logger("churn")

#: the candidates that need the transaction model as of ``as_of`` (the blend averages btyd)
NEEDS_BTYD = ("btyd", "btyd_expected", "blend", "stack")

#: shortest proxy backtest horizon (days) worth ranking the candidates on
MIN_PROXY_HORIZON_DAYS = 14


CLIENT_COLUMNS = ("client_type", "industry", "region", "open_date", "asset_balance", "close_date")


def clients_from_customers(customers: pd.DataFrame) -> pd.DataFrame | None:
    """The client-master columns carried by customers.parquet, for features at earlier dates."""
    columns = [c for c in CLIENT_COLUMNS if c in customers]
    return customers[["customer_id", *columns]] if columns else None


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


def fit_churn(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    value: pd.DataFrame | None,
    as_of: dt.date,
    params: dict[str, Any],
    transaction_model: Any = None,
    signals: tuple[Any, Any] = (None, None),
) -> ChurnFit:
    """Learn everything churn scoring needs from a customer sample (or everyone).

    ``transactions``, ``customers`` (feature rows as of ``as_of``) and ``value`` (ltv rows)
    of the same customers. ``signals``: the balance snapshots and service events (frames or
    Parquet paths, None when not configured), whose features the backtest tables get at
    each cut-off as customers.parquet has them as of ``as_of``.

    BLAS and OpenMP run on one thread: the matrices are small (tens of thousands of rows,
    a few dozen columns), and idle BLAS threads spinning between calls doubled the CPU time
    of the survival fits on a busy 2-core machine.
    """
    with threadpool_limits(1):
        s = read_settings(params)
        inp = _inputs(transactions, customers, as_of, s, signals)
        return _fit_churn(inp, customers, value, transaction_model)


@dataclass
class _Inputs:
    """The fit's inputs at the scoring date: transactions up to ``as_of`` and their gaps."""

    s: ChurnSettings
    as_of: dt.date
    first_date: dt.date
    gaps: pd.DataFrame
    cache: FeatureCache


def _datetimes(column: pd.Series) -> np.ndarray:
    """``datetime64[ns]`` values of a date column; an Arrow-backed one is cast by Arrow
    (``pd.to_datetime`` converts it value by value: 12 s for a 7M-row fit sample)."""
    import pyarrow as pa

    if isinstance(column.dtype, pd.ArrowDtype):
        return pa.array(column).cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
    return pd.to_datetime(column).to_numpy()


def _inputs(transactions, customers, as_of, s: ChurnSettings, signals) -> _Inputs:
    dates = _datetimes(transactions["date"])
    kept = dates <= np.datetime64(as_of, "ns")
    # no copy when nothing is after as_of (the stage's extract ends there)
    tx = transactions if kept.all() else transactions.loc[kept]
    first_date = pd.Timestamp(dates[kept].min()).date() if len(tx) else as_of
    feature_args = {
        "unit_days": s.unit_days,
        "trend_window_days": s.trend_window_days,
        "clients": clients_from_customers(customers),
        "balances": signals[0],
        "events": signals[1],
    }
    # Arrow-backed columns for the feature tables at the backtest cut-offs
    cache = FeatureCache(_columnar(tx), feature_args)
    # the ids as stored: no Python string per transaction (inter_purchase_gaps)
    days = pd.DataFrame({"customer_id": tx["customer_id"].array, "date": dates[kept]})
    return _Inputs(s, as_of, first_date, inter_purchase_gaps(days, as_of), cache)


def _backtest_horizon(inp: _Inputs, degrade) -> int:
    """The full horizon, a proxy (half the history) when the history is shorter, or 0."""
    h, as_of, first = inp.s.horizon_days, inp.as_of, inp.first_date
    eval_cutoff = as_of - dt.timedelta(days=h)
    if eval_cutoff >= first:
        return h
    proxy = (as_of - first).days // 2
    if proxy >= MIN_PROXY_HORIZON_DAYS:
        degrade(
            f"horizon_longer_than_history: as_of - horizon ({eval_cutoff}) is before "
            f"the first transaction ({first}); btyd and survival ranked on a "
            f"{proxy}-day proxy backtest; no classifier, no calibration"
        )
        return proxy
    degrade(
        f"horizon_longer_than_history: as_of - horizon ({eval_cutoff}) is before "
        f"the first transaction ({first}); no backtest, no classifier, no calibration"
    )
    return 0


def _run_backtest(inp: _Inputs, transaction_model, degrade) -> tuple[list[Origin], int]:
    """The usable rolling origins (most recent first) and the horizon they were scored at."""
    s = inp.s
    backtest_h = _backtest_horizon(inp, degrade)
    if backtest_h == 0:
        return [], 0
    proxy = backtest_h != s.horizon_days
    n = 1 if proxy else s.backtest_origins
    cutoffs = origin_cutoffs(inp.as_of, backtest_h, n, s.origin_step_days, inp.first_date)
    if transaction_model is None:
        degrade("btyd_unavailable: no transaction model from the ltv stage")
    origins = rolling_backtest(
        inp.cache,
        inp.gaps,
        cutoffs,
        backtest_h,
        inp.first_date,
        s,
        transaction_model,
        not proxy,
        degrade,
    )
    if origins and not proxy and "gbm" not in origins[0].scores and "gbm" in origins[0].refused:
        degrade(origins[0].refused["gbm"])
    return origins, backtest_h


def _choose(s: ChurnSettings, summary, n_origins, proxy, transaction_model, degrade):
    """``(chosen, why)`` from the rolling summary, or the fallback without a backtest."""
    if summary:
        auto_choice, why = choose(summary, n_origins)
        if proxy:
            why += "; ranked on a proxy horizon, so left uncalibrated"
        if s.model == "auto":
            return auto_choice, why
        if s.model in summary:
            return s.model, "set by churn.model"
        degrade(
            f"model_unavailable: churn.model={s.model} could not be evaluated; using {auto_choice}"
        )
        return auto_choice, why
    chosen = "btyd" if transaction_model is not None else "survival"
    why = "no usable backtest: the transaction model's own probability, uncalibrated"
    if chosen == "survival":
        why = "no usable backtest and no transaction model: the survival model, uncalibrated"
    if s.model not in ("auto", chosen):
        degrade(f"model_unavailable: churn.model={s.model} needs the backtest; using {chosen}")
    return chosen, why


def _refused(origins: list[Origin]) -> dict[str, list[str]]:
    """Every refusal, by candidate (churn.json ``refused``)."""
    out: dict[str, list[str]] = {}
    for origin in origins:
        for name, reason in origin.refused.items():
            out.setdefault(name, []).append(reason)
    return out


def _fit_churn(
    inp: _Inputs, customers: pd.DataFrame, value: pd.DataFrame | None, transaction_model: Any
) -> ChurnFit:
    s, as_of = inp.s, inp.as_of
    degraded: list[str] = []

    def degrade(message: str) -> None:
        log.warning("degraded: %s", message)
        degraded.append(message)

    origins, backtest_h = _run_backtest(inp, transaction_model, degrade)
    proxy = backtest_h != s.horizon_days
    per_origin = [origin_metrics(o, s) for o in origins]
    summary = summarise(per_origin)
    stack_model, now_reason = _model_now(transaction_model, customers)
    if now_reason:
        degrade(f"btyd_degenerate: the transaction model as of {as_of}: {now_reason}")
        per_origin_now = [{k: v for k, v in m.items() if k not in NEEDS_BTYD} for m in per_origin]
    else:
        per_origin_now = per_origin
    used, compared = comparable(per_origin_now)
    chosen, why = _choose(s, summarise(compared), len(used), proxy, stack_model, degrade)
    latest = origins[0] if origins else None
    fit = _models_now(inp, customers, chosen, latest, transaction_model, stack_model, degraded)
    if latest is not None and "blend" in latest.info:
        members = latest.info["blend"]["members"]
        cache = latest.calibration(s)
        members_scores = {n: latest.scores[n] for n in members}
        fit.blend = fit_blend(members_scores, latest.y, s.calibration, cache)
        fit.stack = fit_stack(latest.scores, members, latest.y, s.calibration, s.seed, cache)
    _calibrate(fit, latest, proxy, customers)
    probability = calibrated_probability(fit, customers, _raw_now(fit, customers))[0]
    value_frame = _value_weighting(fit, customers, value)
    fit.reasons = fit_reasons(
        customers,
        probability,
        as_of=as_of,
        horizon_days=s.horizon_days,
        trend_window_days=s.trend_window_days,
    )
    fit.plots = _plots(latest, fit.chosen, s, inp.gaps, customers, value_frame, s.horizon_days)
    fit.metrics = _fit_metrics(fit, inp, origins, per_origin, summary, backtest_h, why)
    fit.metrics["rolling_backtest"]["choice_cutoffs"] = [
        origins[i].cutoff.isoformat() for i in used
    ]
    return fit


def _model_now(transaction_model, customers) -> tuple[Any | None, str | None]:
    """The transaction model as of ``as_of`` when it separates clients, else its refusal."""
    if transaction_model is None:
        return None, None
    try:
        reason = degenerate_reason(transaction_model, customers)
    except Exception as exc:  # scoring failure: reported as a refusal
        reason = f"scoring failed ({exc})"
    return (None, reason) if reason else (transaction_model, None)


def _models_now(inp, customers, chosen, latest, transaction_model, stack_model, degraded):
    """The survival model as of ``as_of`` and the :class:`ChurnFit` around it."""
    s = inp.s
    with timed(log, f"survival model as of {inp.as_of}"):
        client_types = client_type_levels(customers)
        survival = GapSurvivalModel(seed=s.seed).fit(
            inp.gaps, survival_covariates(customers, client_types)
        )
    return ChurnFit(
        settings=s,
        as_of=inp.as_of,
        chosen=chosen,
        survival=survival,
        client_types=client_types,
        transaction_model=transaction_model,
        stack_model=stack_model,
        classifier=latest.classifier if latest else None,
        calibrator=None,
        calibration_used="none",
        fit_customers=int(len(customers)),
        degraded=degraded,
    )


def _raw_now(fit: ChurnFit, customers: pd.DataFrame) -> np.ndarray:
    survival_now, btyd_now, btyd_error, _ = model_scores(fit, customers)
    if fit.chosen == "btyd" and btyd_now is None:
        message = f"btyd_failed: scoring with the transaction model failed ({btyd_error})"
        log.warning("degraded: %s", message)
        fit.degraded.append(message)
        fit.chosen = "survival"
    try:
        raw = chosen_score(fit, customers, survival_now, btyd_now)
    except Exception as exc:  # a failing score is a stated fallback, not a crash
        message = f"{fit.chosen}_failed: scoring the chosen candidate failed ({exc})"
        log.warning("degraded: %s", message)
        fit.degraded.append(message)
        fit.chosen, fit.blend, fit.stack = "survival", None, None
        raw = survival_now
    return np.where(np.isnan(raw), survival_now, raw)


def _calibrate(fit: ChurnFit, latest: Origin | None, proxy: bool, customers) -> None:
    """Calibration map on the most recent cut-off, else the quantile map onto BTYD."""
    s = fit.settings
    if latest is not None and fit.chosen in latest.scores and not proxy:
        fit.calibrator = latest.calibration(s).calibrator(fit.chosen, latest.scores[fit.chosen])
        fit.calibration_used = s.calibration
        return
    if fit.chosen == "btyd" or fit.stack_model is None:
        return
    survival_now, btyd_now, _, _ = model_scores(fit, customers)
    if btyd_now is not None and np.isfinite(btyd_now).all():
        # no outcomes at the right horizon: keep the chosen ranking, take the levels from
        # the transaction model's own probabilities (rank-preserving quantile mapping)
        fit.map_scores = np.sort(_raw_now(fit, customers))
        fit.map_reference = np.sort(btyd_now)
        fit.calibration_used = "quantile_map_to_btyd"


def _value_weighting(fit: ChurnFit, customers, value) -> pd.DataFrame | None:
    """The strategic CLV cut (:func:`kequn.rules.tier_cut`) and the value rows of customers."""
    s = fit.settings
    value_frame = (
        customers[["customer_id"]].merge(value, on="customer_id", how="left")
        if value is not None
        else None
    )
    if s.value_weighted:
        if value_frame is not None and "clv" in value_frame:
            clv = pd.to_numeric(value_frame["clv"], errors="coerce")
            fit.strategic_threshold = tier_cut(clv.to_numpy(dtype=float), s.strategic_share)
        else:
            fit.value_weighting_skipped = True
    return value_frame


def _fit_metrics(fit, inp, origins, per_origin, summary, backtest_h, why) -> dict[str, Any]:
    s, as_of, h = inp.s, inp.as_of, inp.s.horizon_days
    latest = origins[0] if origins else None
    eval_cut = latest.cutoff if latest else as_of - dt.timedelta(days=max(backtest_h, 1))
    train_cut = eval_cut - dt.timedelta(days=h)
    y_eval = latest.y if latest else np.zeros(0, dtype=np.int8)
    survival = fit.survival
    return {
        "as_of": as_of.isoformat(),
        "horizon_days": h,
        "windows": {
            "train_features_as_of": train_cut.isoformat(),
            "train_labels": [train_cut.isoformat(), eval_cut.isoformat()],
            "backtest_features_as_of": eval_cut.isoformat(),
            "backtest_labels": [
                eval_cut.isoformat(),
                (eval_cut + dt.timedelta(days=max(backtest_h, 1))).isoformat(),
            ],
            "backtest_horizon_days": backtest_h,
        },
        "backtest": per_origin[0] if per_origin else {},
        "rolling_backtest": {
            "cutoffs": [
                {
                    "features_as_of": o.cutoff.isoformat(),
                    "labels": [
                        o.cutoff.isoformat(),
                        (o.cutoff + dt.timedelta(days=o.horizon_days)).isoformat(),
                    ],
                    "customers": int(len(o.y)),
                    "churn_rate": float(o.y.mean()),
                    "roc_auc": {n: m["raw"]["roc_auc"] for n, m in per.items()},
                }
                for o, per in zip(origins, per_origin, strict=True)
            ],
            "summary": summary,
        },
        "signals_backtest": signal_summary(origins),
        "refused": _refused(origins),
        "backtest_customers": int(len(y_eval)),
        "backtest_is_proxy": bool(backtest_h != h and backtest_h > 0),
        "backtest_churn_rate": float(y_eval.mean()) if len(y_eval) else None,
        "chosen": fit.chosen,
        "requested": s.model,
        "why": why,
        "calibration": fit.calibration_used,
        "stack": _stack_weights(fit.stack),
        "survival": {
            "concordance_index": finite(survival.concordance_index_),
            "hazard_ratios": {k: float(np.exp(v)) for k, v in survival.coef_.items()},
            "n_gaps": survival.n_gaps_,
            "n_returns": survival.n_events_,
            "median_days_cap": MAX_DAYS_TO_INACTIVITY,
        },
    }


def _stack_weights(stack: Any) -> dict[str, Any] | None:
    """The stack's intercept and non-negative weights on its members' logits (churn.json
    ``stack``; :func:`churn.stack.fit_weights`), as fitted on the most recent cut-off."""
    if stack is None:
        return None
    weights = dict(zip(stack.calibrators, np.asarray(stack.weights, float).tolist(), strict=True))
    return {"intercept": float(stack.intercept), "weights": weights}


def _plots(latest, chosen, s, gaps, customers, value_frame, h) -> dict[str, pd.DataFrame]:
    eval_scores = latest.scores if latest else {}
    y_eval = latest.y if latest else np.zeros(0, dtype=np.int8)
    if eval_scores:
        roc = pd.concat(
            [roc_points(score, y_eval, name) for name, score in eval_scores.items()],
            ignore_index=True,
        )
        calibrated = (
            latest.calibration(s).oof(chosen, eval_scores[chosen])
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
