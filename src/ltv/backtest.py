"""Backtest of lifetime-value models: fit as of ``cutoff``, score the holdout ``(cutoff, end]``.

Every candidate predicts, per calibration customer, the number of transaction days and the
value in the holdout window; the functions here compare those predictions with what really
happened. All functions are pure (arrays or frames in, numbers or frames out).

Metrics
-------
- aggregate error: ``(sum(predicted) - sum(actual)) / |sum(actual)|`` for transactions and
  value (the "% error" of a population forecast);
- per-customer mean absolute error (``sklearn.metrics.mean_absolute_error``);
- normalized Gini of predicted vs actual value (how well the prediction *ranks*
  customers; 1 = perfect order, 0 = no better than random, -1 = reversed);
- Spearman rank correlation (``scipy.stats.spearmanr``);
- decile table and cumulative gain curve by predicted value.

Model choice (:func:`choose_model`): lowest per-customer MAE of holdout value; ties
(equal to 9 significant digits) broken by the smaller absolute aggregate value error.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error

from features import CutoffTables
from ltv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel
from ltv._base import ConvergenceWarning
from ltv.gbm import GradientBoostingValueModel, backtest_windows, cannot_train, training_table

#: calibration repeat frequencies shown separately in the calibration plot; the last is "or more"
CALIBRATION_MAX_FREQUENCY = 7


def _as_float(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _tie_averaged_order(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``actual`` sorted by descending ``predicted``, each tie group replaced by its mean.

    Averaging within groups of equal predictions gives the expected result over all
    orderings of the ties, so a constant prediction scores exactly like a random one.
    """
    order = np.argsort(-predicted, kind="stable")
    sorted_pred = predicted[order]
    sorted_actual = actual[order]
    # group id increases at each change of predicted value
    starts = np.r_[True, sorted_pred[1:] != sorted_pred[:-1]]
    group = np.cumsum(starts) - 1
    sums = np.bincount(group, weights=sorted_actual)
    counts = np.bincount(group)
    return (sums / counts)[group]


def _gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``predicted`` (Kaggle's definition, tie-averaged).

    G = (1/n) * sum_i C_i / C_n - (n + 1) / (2n), with C_i the cumulative actual of the
    i customers with the highest prediction.
    """
    n = actual.size
    ordered = _tie_averaged_order(actual, predicted)
    cumulative = np.cumsum(ordered)
    return float(cumulative.sum() / cumulative[-1] / n - (n + 1) / (2 * n))


def normalized_gini(actual: Any, predicted: Any) -> float:
    """Gini of the prediction's ordering divided by the Gini of the perfect ordering.

    1 for a perfect ranking, about 0 for a random one (exactly 0 for a constant
    prediction), -1 for the reversed ranking. NaN when it is undefined (fewer than two
    customers, total actual 0, or all actual values equal).
    """
    actual = _as_float(actual)
    predicted = _as_float(predicted)
    if actual.size < 2 or actual.sum() == 0:
        return math.nan
    best = _gini(actual, actual)
    if best == 0:
        return math.nan
    return _gini(actual, predicted) / best


def spearman(actual: Any, predicted: Any) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    actual = _as_float(actual)
    predicted = _as_float(predicted)
    if actual.size < 2 or np.ptp(actual) == 0 or np.ptp(predicted) == 0:
        return math.nan
    return float(spearmanr(actual, predicted).statistic)


def aggregate_error(actual: Any, predicted: Any) -> float:
    """Relative error of the total: (sum predicted - sum actual) / |sum actual| (NaN if 0)."""
    total = float(np.sum(actual))
    if total == 0:
        return math.nan
    return (float(np.sum(predicted)) - total) / abs(total)


def decile_table(actual: Any, predicted: Any, n_groups: int = 10) -> pd.DataFrame:
    """Customers in ``n_groups`` equal-sized groups by descending prediction (1 = highest).

    Returns decile, customers, actual (sum of actual), predicted (sum of predicted); the
    columns add up to the totals. Ties are ordered by input position (stable).
    """
    actual = _as_float(actual)
    predicted = _as_float(predicted)
    n = actual.size
    order = np.argsort(-predicted, kind="stable")
    decile = np.empty(n, dtype=np.int64)
    decile[order] = np.arange(n) * n_groups // max(n, 1) + 1
    table = (
        pd.DataFrame({"decile": decile, "actual": actual, "predicted": predicted})
        .groupby("decile")
        .agg(customers=("actual", "size"), actual=("actual", "sum"), predicted=("predicted", "sum"))
        .reindex(range(1, n_groups + 1), fill_value=0)
        .rename_axis("decile")
        .reset_index()
    )
    table["customers"] = table["customers"].astype(np.int64)
    return table


def gain_curve(actual: Any, predicted: Any, n_points: int = 101) -> pd.DataFrame:
    """Cumulative share of actual value captured by the top share of customers by prediction.

    Columns share_of_customers (0..1 in ``n_points`` steps), model (share of the total
    actual value among the top ``round(share * n)`` customers, ties averaged) and random
    (the diagonal a random order achieves on average).
    """
    actual = _as_float(actual)
    predicted = _as_float(predicted)
    n = actual.size
    share = np.linspace(0.0, 1.0, n_points)
    total = actual.sum()
    cumulative = np.r_[0.0, np.cumsum(_tie_averaged_order(actual, predicted))]
    top = np.rint(share * n).astype(np.int64)
    model = cumulative[top] / total if total != 0 else np.full(n_points, np.nan)
    return pd.DataFrame({"share_of_customers": share, "model": model, "random": share})


def calibration_by_frequency(
    frequency: Any,
    actual: Any,
    predicted: Any,
    max_frequency: int = CALIBRATION_MAX_FREQUENCY,
) -> pd.DataFrame:
    """Mean actual and predicted holdout transactions by calibration repeat frequency x.

    The classic BTYD "calibration vs holdout" check (Fader, Hardie & Lee 2005, fig. 4):
    rows frequency 0..max_frequency, where the last row holds every customer with
    x >= max_frequency; columns frequency, customers, actual, predicted.
    """
    group = np.minimum(_as_float(frequency), max_frequency).astype(np.int64)
    frame = pd.DataFrame({"frequency": group, "actual": actual, "predicted": predicted})
    table = (
        frame.groupby("frequency")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reindex(range(max_frequency + 1))
        .rename_axis("frequency")
        .reset_index()
    )
    table["customers"] = table["customers"].fillna(0).astype(np.int64)
    return table


def window_totals(
    transactions: pd.DataFrame, start: dt.date, end: dt.date, customer_ids: Any
) -> pd.DataFrame:
    """Per customer in ``customer_ids``: distinct transaction days and value in (start, end].

    Returns customer_id, transactions, value (zeros for customers without any).
    """
    dates = pd.to_datetime(transactions["date"])
    in_window = (dates > pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
    window = transactions.loc[in_window, ["customer_id", "date", "amount"]]
    per_customer = window.groupby("customer_id").agg(
        transactions=("date", "nunique"), value=("amount", "sum")
    )
    result = per_customer.reindex(pd.Index(customer_ids, name="customer_id"), fill_value=0)
    return result.reset_index().astype({"transactions": np.int64, "value": float})


def past_value_repeats(
    transactions: pd.DataFrame, cutoff: dt.date, holdout_days: int, customer_ids: Any
) -> pd.DataFrame:
    """Baseline: each customer repeats, in the holdout, what they did in the last
    ``holdout_days`` before ``cutoff`` (transaction days and value in (cutoff - H, cutoff]).

    Returns customer_id, predicted_transactions, predicted_value.
    """
    start = cutoff - dt.timedelta(days=holdout_days)
    totals = window_totals(transactions, start, cutoff, customer_ids)
    return pd.DataFrame(
        {
            "customer_id": totals["customer_id"],
            "predicted_transactions": totals["transactions"].astype(float),
            "predicted_value": totals["value"],
        }
    )


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN: undefined metrics become null."""
    return None if value is None or not math.isfinite(value) else float(value)


def evaluate(
    actual_transactions: Any,
    predicted_transactions: Any,
    actual_value: Any,
    predicted_value: Any,
) -> dict[str, float | None]:
    """Every backtest metric of one candidate, as a flat dict ready for ``ltv.json``."""
    metrics = {
        "actual_transactions": float(np.sum(actual_transactions)),
        "predicted_transactions": float(np.sum(predicted_transactions)),
        "transactions_error": aggregate_error(actual_transactions, predicted_transactions),
        "mae_transactions": float(mean_absolute_error(actual_transactions, predicted_transactions)),
        "actual_value": float(np.sum(actual_value)),
        "predicted_value": float(np.sum(predicted_value)),
        "value_error": aggregate_error(actual_value, predicted_value),
        "mae_value": float(mean_absolute_error(actual_value, predicted_value)),
        "gini": normalized_gini(actual_value, predicted_value),
        "spearman": spearman(actual_value, predicted_value),
    }
    return {
        "customers": int(np.size(actual_value)),
        **{key: _finite_or_none(value) for key, value in metrics.items()},
    }


def choose_model(metrics: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """The candidate with the lowest per-customer MAE of holdout value.

    Ties (MAE equal to 9 significant digits) go to the smaller absolute aggregate value
    error, then to the name. ``metrics`` maps name -> :func:`evaluate` output; candidates
    without a ``mae_value`` (skipped) are ignored. Returns (name, reason).
    """
    scored = {name: m for name, m in metrics.items() if m and m.get("mae_value") is not None}
    if not scored:
        raise ValueError("no candidate has backtest metrics to choose from")

    def key(name: str) -> tuple[float, float, str]:
        m = scored[name]
        error = m.get("value_error")
        return (float(f"{m['mae_value']:.9g}"), abs(error) if error is not None else math.inf, name)

    ranked = sorted(scored, key=key)
    best = ranked[0]
    reason = f"lowest per-customer MAE of holdout value ({scored[best]['mae_value']:.4g})"
    if len(ranked) > 1:
        runner = ranked[1]
        reason += f"; next {runner} ({scored[runner]['mae_value']:.4g})"
    return best, reason


# --------------------------------------------------------------------------------------
# Running the backtest: every candidate fitted as of cutoff = as_of - holdout_days
# --------------------------------------------------------------------------------------

#: probabilistic transaction models by their ``ltv.model`` name
TRANSACTION_MODELS = {
    "bgnbd": BetaGeoModel,
    "pareto_nbd": ParetoNBDModel,
    "mbgnbd": ModifiedBetaGeoModel,
}
#: every candidate ``ltv.model: auto`` chooses from
CANDIDATES = (*TRANSACTION_MODELS, "gbm", "gbm_stacked")
#: fewest calibration customers with a repeat transaction for a model to be fitted
MIN_REPEAT_CUSTOMERS = 5


def spend_mask(frequency: Any, monetary_value: Any) -> np.ndarray:
    """Rows the Gamma-Gamma model can use: at least one repeat day and positive mean spend."""
    return (_as_float(frequency) > 0) & (_as_float(monetary_value) > 0)


def fit_spend_model(frequency: Any, monetary_value: Any, penalizer: float = 0.0) -> GammaGammaModel:
    """Gamma-Gamma (Fader & Hardie 2013) fitted on the rows of :func:`spend_mask`."""
    mask = spend_mask(frequency, monetary_value)
    return GammaGammaModel(penalizer=penalizer).fit(
        _as_float(frequency)[mask], _as_float(monetary_value)[mask]
    )


def population_mean_spend(spend_model: GammaGammaModel) -> float:
    """E[z] = p v / (q - 1), the mean spend per transaction of a customer without history."""
    p, q, v = (spend_model.params_[k] for k in ("p", "q", "v"))
    if q <= 1:
        raise ValueError(f"Gamma-Gamma q={q:.4g} <= 1: the population mean spend is infinite")
    return p * v / (q - 1)


def spend_inputs(spend_model: GammaGammaModel, frequency: Any, monetary_value: Any) -> np.ndarray:
    """Monetary values to pass to the spend model: a customer it cannot use (no repeat day
    or non-positive mean spend) gets the population mean E[z], and since the Gamma-Gamma
    conditional mean is a weighted average of E[z] and the customer's own mean, that
    customer's expected spend is exactly E[z]."""
    mask = spend_mask(frequency, monetary_value)
    return np.where(mask, _as_float(monetary_value), population_mean_spend(spend_model))


def expected_spend(spend_model: GammaGammaModel, frequency: Any, monetary_value: Any) -> np.ndarray:
    """Conditional expected spend per transaction; E[z] for customers without usable spend."""
    mask = spend_mask(frequency, monetary_value)
    result = np.full(mask.size, population_mean_spend(spend_model))
    if mask.any():
        result[mask] = spend_model.expected_value(
            _as_float(frequency)[mask], _as_float(monetary_value)[mask]
        )
    return result


def fit_summary(model: Any) -> dict[str, Any]:
    """Fitted parameters and fit statistics of a probabilistic model, for ``ltv.json``."""
    return {
        "params": {k: float(v) for k, v in model.params_.items()},
        "log_likelihood": _finite_or_none(float(model.log_likelihood_)),
        "aic": _finite_or_none(float(model.aic_)),
        "bic": _finite_or_none(float(model.bic_)),
        "converged": bool(model.converged_),
        "n_customers": int(model.n_customers_),
    }


@dataclass
class BacktestResult:
    """What :func:`run_backtest` found.

    ``holdout``: one row per calibration customer: customer_id, frequency,
    actual_transactions, actual_value and ``<candidate>_transactions`` /
    ``<candidate>_value`` predictions (also for ``past_value_repeats``).
    ``metrics``: candidate -> :func:`evaluate`; ``fits``: probabilistic model -> fit
    summary (plus ``gamma_gamma``); ``skipped``: candidate -> reason.
    """

    cutoff: dt.date
    end: dt.date
    holdout: pd.DataFrame
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    fits: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def run_backtest(
    transactions: pd.DataFrame,
    as_of: dt.date,
    *,
    holdout_days: int,
    unit_days: int = 7,
    trend_window_days: int = 90,
    penalizer: float = 0.0,
    seed: int = 0,
    candidates: tuple[str, ...] = CANDIDATES,
    tables: CutoffTables | None = None,
) -> BacktestResult:
    """Fit every candidate as of ``as_of - holdout_days`` and predict the holdout.

    Probabilistic models predict transaction days E[X(T, T + H] | x, t_x, T] and value
    = that times the Gamma-Gamma expected spend; ``gbm`` is trained one window earlier
    (see :mod:`ltv.gbm`). A candidate whose window starts before the data does, or which
    has too few repeat customers, is skipped with the reason. ``transactions`` must hold
    nothing after ``as_of``. ``tables``: the run's cut-off feature tables over
    ``transactions`` (built with ``unit_days`` and ``trend_window_days``), shared with the
    caller so that a cut-off it needs again is not rebuilt; a private one when None.
    """
    if tables is None:
        tables = CutoffTables(
            transactions, unit_days=unit_days, trend_window_days=trend_window_days
        )
    cutoff = as_of - dt.timedelta(days=holdout_days)
    first_date = pd.to_datetime(transactions["date"]).min().date()
    empty = pd.DataFrame(
        columns=["customer_id", "frequency", "actual_transactions", "actual_value"]
    )
    if cutoff <= first_date:
        reason = f"history {first_date}..{as_of} is not longer than ltv.holdout_days={holdout_days}"
        result = BacktestResult(cutoff, as_of, empty)
        result.skipped = dict.fromkeys(candidates, reason)
        return result

    calibration, frame = _calibration_frame(tables, cutoff, as_of)
    table = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "frequency": frame["frequency"].astype(float),
            "actual_transactions": frame["holdout_transactions"].astype(float),
            "actual_value": frame["holdout_value"].astype(float),
        }
    )
    result = BacktestResult(cutoff, as_of, table)
    probabilistic = [c for c in candidates if c in TRANSACTION_MODELS]
    _backtest_probabilistic(result, frame, probabilistic, holdout_days / unit_days, penalizer)
    if "gbm" in candidates:
        _backtest_gbm(
            result,
            tables,
            calibration,
            holdout_days=holdout_days,
            first_date=first_date,
            seed=seed,
        )

    if "gbm_stacked" in candidates:
        from ltv.stacked import add_stacked  # ltv.stacked builds on this module

        add_stacked(
            result,
            tables,
            holdout_days=holdout_days,
            unit_days=unit_days,
            penalizer=penalizer,
            seed=seed,
        )

    baseline = past_value_repeats(transactions, cutoff, holdout_days, table["customer_id"])
    table["past_value_repeats_transactions"] = baseline["predicted_transactions"].to_numpy()
    table["past_value_repeats_value"] = baseline["predicted_value"].to_numpy()

    for name in (*[c for c in candidates if c not in result.skipped], "past_value_repeats"):
        result.metrics[name] = evaluate(
            table["actual_transactions"],
            table[f"{name}_transactions"],
            table["actual_value"],
            table[f"{name}_value"],
        )
    return result


def _calibration_frame(
    tables: CutoffTables, cutoff: dt.date, as_of: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibration features as of ``cutoff`` and, per calibration customer, (x, t_x, T,
    mean spend) with the holdout's transactions and value in (cutoff, as_of] (0 if none)."""
    calibration, holdout = tables.split(cutoff, as_of)
    frame = calibration[["customer_id", "frequency", "recency", "T", "monetary_value"]].merge(
        holdout[["customer_id", "holdout_transactions", "holdout_value"]],
        on="customer_id",
        how="left",
    )
    frame = frame.fillna({"holdout_transactions": 0, "holdout_value": 0.0})
    return calibration, frame


def _backtest_probabilistic(
    result: BacktestResult,
    frame: pd.DataFrame,
    names: list[str],
    t: float,
    penalizer: float,
) -> None:
    """Fit Gamma-Gamma and each BTYD model ``names`` on ``frame`` and add their holdout
    predictions E[X(T, T + t)] and E[X] * E[spend] to ``result.holdout``; a model that did
    not converge, or a calibration with too few repeat customers, goes to ``result.skipped``."""
    cutoff, table = result.cutoff, result.holdout
    f, r, big_t, m = (
        frame[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    n_repeat = int(spend_mask(f, m).sum())
    if n_repeat < MIN_REPEAT_CUSTOMERS:
        reason = (
            f"only {n_repeat} calibration customers with repeat purchases and positive spend "
            f"as of {cutoff} (need {MIN_REPEAT_CUSTOMERS})"
        )
        result.skipped.update(dict.fromkeys(names, reason))
        return
    spend_model = fit_spend_model(f, m, penalizer)
    result.fits["gamma_gamma"] = fit_summary(spend_model)
    spend = expected_spend(spend_model, f, m)
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = TRANSACTION_MODELS[name](penalizer=penalizer).fit(f, r, big_t)
        result.fits[name] = fit_summary(model)
        # refused: not converged, a parameter at a bound or P(alive) constant
        reason = degenerate_reason(model, f, r, big_t)
        if reason is not None:
            if not model.converged_:
                reason += f"; {model.optimizer_message_}"
            result.skipped[name] = f"{name} refused as of {cutoff}: {reason}"
            continue
        predicted = np.asarray(model.expected_transactions(t, f, r, big_t), dtype=float)
        table[f"{name}_transactions"] = predicted
        table[f"{name}_value"] = predicted * spend


def _backtest_gbm(
    result: BacktestResult,
    tables: CutoffTables,
    calibration: pd.DataFrame,
    *,
    holdout_days: int,
    first_date: dt.date,
    seed: int,
) -> None:
    """Train gbm one window before the backtest cut-off (:func:`ltv.gbm.backtest_windows`)
    and add its holdout predictions to ``result.holdout``, or say in ``result.skipped`` why
    it cannot be trained."""
    train, evaluated = backtest_windows(result.end, holdout_days)
    if train.features_as_of <= first_date:
        result.skipped["gbm"] = (
            f"gbm needs two windows of ltv.holdout_days={holdout_days} before {result.end}; "
            f"the data start {first_date}"
        )
        return
    train_features, train_target = training_table(tables, train)
    problem = cannot_train(train_target, train)
    if problem:
        result.skipped["gbm"] = f"gbm: {problem}"
        return
    booster = GradientBoostingValueModel(random_state=seed).fit(
        train_features, train_target["holdout_value"], train_target["holdout_transactions"]
    )
    predicted = booster.predict(calibration)
    result.holdout["gbm_transactions"] = predicted["predicted_transactions"].to_numpy()
    result.holdout["gbm_value"] = predicted["predicted_value"].to_numpy()
    result.fits["gbm"] = {
        "train_features_as_of": train.features_as_of.isoformat(),
        "train_target_end": train.target_end.isoformat(),
        "evaluated_features_as_of": evaluated.features_as_of.isoformat(),
        "evaluated_target_end": evaluated.target_end.isoformat(),
        "train_customers": int(booster.n_customers_),
    }


#: below this overlap of month-of-year coverage, holdout and horizon are different seasons
SEASON_OVERLAP = 0.75
#: with a month-of-year index: a relative gap between the two windows' levels above this
SEASON_INDEX_GAP = 0.05
#: complete months of history needed for a month-of-year index
SEASON_MONTHS = 24


def _month_shares(start: dt.date, end: dt.date) -> pd.Series:
    """Share of the days of ``(start, end]`` in each month of the year (index 1..12)."""
    days = pd.date_range(pd.Timestamp(start) + pd.Timedelta(days=1), pd.Timestamp(end), freq="D")
    counts = pd.Series(days.month).value_counts()
    return counts.reindex(range(1, 13), fill_value=0) / max(len(days), 1)


def seasonal_index(transactions: pd.DataFrame, as_of: dt.date) -> pd.Series | None:
    """Month-of-year index of transaction days, from the complete months before ``as_of``.

    For each complete calendar month, the number of distinct (customer, day) transactions
    per day of the month, divided by the mean of that over the 12 months ending with it
    (so growth or decline of the base does not read as season); the index of month m is
    the mean over the years, normalised to average 1. None with fewer than
    ``SEASON_MONTHS`` complete months (no earlier year to learn from).
    """
    dates = pd.to_datetime(transactions["date"])
    days = transactions.assign(_d=dates.dt.normalize())[["customer_id", "_d"]].drop_duplicates()
    last_full = (pd.Timestamp(as_of) + pd.Timedelta(days=1)).to_period("M") - 1
    per_month = days["_d"].dt.to_period("M").value_counts().sort_index()
    first_full = dates.min().to_period("M") + (0 if dates.min().day == 1 else 1)
    months = pd.period_range(first_full, last_full, freq="M")
    if len(months) < SEASON_MONTHS:
        return None
    rate = per_month.reindex(months, fill_value=0) / months.days_in_month.to_numpy()
    trend = rate.rolling(12, center=True, min_periods=12).mean()
    ratio = (rate / trend).dropna()
    if ratio.empty:
        ratio = rate / rate.mean()
    index = ratio.groupby(ratio.index.month).mean().reindex(range(1, 13))
    index = index.fillna(index.mean())
    return index / index.mean()


def season_check(
    transactions: pd.DataFrame, cutoff: dt.date, as_of: dt.date, horizon_days: int
) -> dict[str, Any]:
    """Do the backtest holdout ``(cutoff, as_of]`` and the scoring horizon
    ``(as_of, as_of + horizon_days]`` cover the same months of the year?

    Returns ``overlap`` (sum over months of the smaller of the two day shares: 1 = same
    months), ``mismatch`` (overlap below ``SEASON_OVERLAP``; with an index: the two
    windows' index levels more than ``SEASON_INDEX_GAP`` apart), the months of each window,
    and, when the data hold ``SEASON_MONTHS`` complete months, ``holdout_index`` and
    ``horizon_index`` (day-weighted month-of-year index, :func:`seasonal_index`): the
    stationary BTYD aggregate forecast times ``horizon_index`` is the seasonally corrected
    one (``seasonal_correction``), and the backtest's error reflects ``holdout_index``.
    """
    holdout = _month_shares(cutoff, as_of)
    horizon = _month_shares(as_of, as_of + dt.timedelta(days=int(horizon_days)))
    overlap = float(np.minimum(holdout, horizon).sum())
    out: dict[str, Any] = {
        "overlap": round(overlap, 4),
        "mismatch": bool(overlap < SEASON_OVERLAP),
        "holdout_months": [int(m) for m in holdout.index[holdout > 0]],
        "horizon_months": [int(m) for m in horizon.index[horizon > 0]],
        "holdout_index": None,
        "horizon_index": None,
        "seasonal_correction": None,
    }
    index = seasonal_index(transactions, as_of)
    if index is not None:
        out["holdout_index"] = round(float((holdout * index).sum()), 4)
        out["horizon_index"] = round(float((horizon * index).sum()), 4)
        out["seasonal_correction"] = out["horizon_index"]
        out["index"] = {int(m): round(float(v), 4) for m, v in index.items()}
        # with an index, a mismatch is one that matters: the windows' seasonal levels differ
        gap = abs(out["horizon_index"] - out["holdout_index"]) / max(out["holdout_index"], 1e-9)
        out["mismatch"] = bool(gap > SEASON_INDEX_GAP)
    return out


#: a BTYD parameter above this (or below its inverse) sits at the optimiser's practical bound
PARAMETER_BOUND = 1e6
#: P(alive) of the repeat customers with an interquartile range below this separates nobody
MIN_ALIVE_SPREAD = 0.01
#: fewest repeat customers for the P(alive) spread check
MIN_REPEAT_TO_CHECK = 20
#: the L2 penalty of the regularised fallback refit
FALLBACK_PENALIZER = 0.1


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return np.array([values[order][np.searchsorted(cumulative, q)] for q in qs])


def degenerate_reason(model: Any, x, t_x, T, weights=None) -> str | None:
    """Why a fitted BTYD model must not be used, or None when it may.

    Refused: a fit that did not converge (``converged_`` False: optimiser failure, a log
    parameter at the ±20 box, a Hessian that is not positive definite); a parameter above
    ``PARAMETER_BOUND`` or below its inverse; P(alive) whose interquartile range over the
    repeat customers (``x > 0``; ``weights``: customers per row) is below
    ``MIN_ALIVE_SPREAD`` -- a dropout rate at zero, every client "alive" (first-time buyers
    are left out: BG/NBD holds them alive by construction).
    """
    params = {k: float(v) for k, v in getattr(model, "params_", {}).items()}
    shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
    if not getattr(model, "converged_", True):
        return f"the fit did not converge ({shown})"
    extreme = [k for k, v in params.items() if not 1 / PARAMETER_BOUND < v < PARAMETER_BOUND]
    if extreme:
        return f"parameter {', '.join(extreme)} at a bound ({shown})"
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    repeat = x > 0
    if w[repeat].sum() < MIN_REPEAT_TO_CHECK:
        return None
    alive = np.asarray(model.probability_alive(x[repeat], t_x[repeat], T[repeat]), dtype=float)
    q25, q75 = _weighted_quantiles(alive, w[repeat], [0.25, 0.75])
    if q75 - q25 < MIN_ALIVE_SPREAD:
        return (
            f"P(alive) nearly constant (interquartile {q25:.4f}..{q75:.4f}; {shown}): "
            "the dropout process is degenerate"
        )
    return None


def fit_separating(name: str, histories: Any, penalizer: float, fit) -> tuple[Any, str, str | None]:
    """The transaction model ``name`` fitted by ``fit(name, histories, penalizer)``, or, when
    :func:`degenerate_reason` refuses it, the first that separates clients of: the other
    probabilistic models, then ``name`` regularised (penalizer ``FALLBACK_PENALIZER``).

    Returns ``(model, its name, None)`` or ``(fallback, its name, what happened)``; when
    nothing separates, the first fit with the note saying so.
    """
    args = (histories.x, histories.t_x, histories.T, histories.weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = fit(name, histories, penalizer)
    reason = degenerate_reason(first, *args)
    if reason is None:
        return first, name, None
    tries = [(n, penalizer) for n in TRANSACTION_MODELS if n != name]
    tries.append((name, max(penalizer, FALLBACK_PENALIZER)))
    for other, pen in tries:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = fit(other, histories, pen)
        if degenerate_reason(model, *args) is None:
            how = f"{other} (penalizer {pen})"
            return model, other, f"{name} refused as of scoring: {reason}; using {how}"
    return first, name, f"{name}: {reason}; no alternative separates clients either"
