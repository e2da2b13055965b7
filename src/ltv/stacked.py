"""Stacked CLV candidate ``gbm_stacked``: gradient boosting of a correction to the BTYD value.

A BTYD model and a Gamma-Gamma spend model fitted on a features date give each customer a
baseline for the next window of ``H`` days: b_i = E[X_i] * E[z_i] (transaction days times
expected spend; :func:`stack_features`). The booster learns how far the truth departs from
that baseline, not the value itself: it boosts the log of the ratio of the conditional mean
to the baseline, F(x) = log(E[y | x] / b), so that

    y_hat_i = b_i * exp(F(x_i)),

on the customer features plus the BTYD outputs (P(alive), expected transactions, expected
spend, b). F = 0 is the BTYD prediction itself; the boosting starts from the constant
log(sum y / sum b) of the training window and adds a tree only while it lowers the loss on
customers held out of the fit (early stopping), so where the features say nothing more than
BTYD the candidate stays at the BTYD value. The loss is the Poisson deviance of y against
b exp(F) -- a Poisson regression with offset log b -- fitted as the deviance of the ratio
y / b weighted by b (the deviance is homogeneous of degree one, so the two are equal). The
same is done for transaction days on the baseline E[X]; the interval models are quantile
regressions of y in the form b * q(x) (quantile loss of y / b weighted by b). This is
stacking (Wolpert 1992, "Stacked generalization": a second-level learner on the outputs of
first-level models) with the second level written as residual boosting from the first
level's prediction (Friedman 2001, "Greedy function approximation: a gradient boosting
machine", where boosting starts from an initial model F_0 and fits the residual gradient).

Strictly temporal, as ``gbm``: trained on features as of ``t - 2H`` (BTYD fitted there) with
targets in ``(t - 2H, t - H]``; evaluated on features as of ``t - H`` (BTYD refitted there)
against ``(t - H, t]``. For scoring, trained at ``as_of - H`` and applied at ``as_of`` with
the stage's scoring BTYD and spend models.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from features import CutoffTables
from ltv._base import ConvergenceWarning
from ltv.backtest import (
    MIN_REPEAT_CUSTOMERS,
    TRANSACTION_MODELS,
    BacktestResult,
    degenerate_reason,
    expected_spend,
    fit_spend_model,
    spend_mask,
)
from ltv.gbm import Window, _threads, cannot_train, feature_matrix, training_table

#: the name of the candidate in the backtest and in ``ltv.model``
NAME = "gbm_stacked"
#: the BTYD columns added to the features (also in :data:`ltv.gbm.NUMERIC_FEATURES`)
BTYD_COLUMNS = (
    "btyd_probability_alive",
    "btyd_expected_transactions",
    "btyd_expected_spend",
    "btyd_expected_value",
)
#: the booster's steps are small, its trees have at most this many leaves of at least
#: MIN_SAMPLES_LEAF customers, and it stops when TREES_WITHOUT_GAIN more trees have not
#: lowered the loss on the VALIDATION_FRACTION of the customers held out of the fit
LEARNING_RATE = 0.05
MAX_LEAF_NODES = 8
MIN_SAMPLES_LEAF = 200
MAX_ITER = 100
VALIDATION_FRACTION = 0.1
TREES_WITHOUT_GAIN = 10
#: a baseline below this share of its training mean is raised to it (a customer BTYD holds
#: as good as gone who buys again would otherwise weigh nothing and ask for an unbounded ratio)
BASELINE_FLOOR = 1e-3


def _rfm(customers: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(
        customers[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )


def stack_features(customers: pd.DataFrame, btyd: Any, spend: Any, t: float) -> pd.DataFrame:
    """``customers`` with the :data:`BTYD_COLUMNS` of a fitted BTYD model and spend model.

    P(alive | x, t_x, T); E[X(T, T + t) | x, t_x, T] for the window of ``t`` time units;
    E[z | x, mean spend] (the population mean E[z] without usable spend, see
    :func:`ltv.backtest.expected_spend`); and the BTYD expected value E[X] * E[z].
    """
    f, r, big_t, m = _rfm(customers)
    alive = np.asarray(btyd.probability_alive(f, r, big_t), dtype=float)
    count = np.asarray(btyd.expected_transactions(t, f, r, big_t), dtype=float)
    per = expected_spend(spend, f, m)
    return customers.assign(
        btyd_probability_alive=alive,
        btyd_expected_transactions=count,
        btyd_expected_spend=per,
        btyd_expected_value=count * per,
    )


def fit_btyd_at(customers: pd.DataFrame, penalizer: float) -> tuple[Any, Any, str | None]:
    """A BTYD model (the first of :data:`ltv.backtest.TRANSACTION_MODELS` that
    :func:`ltv.backtest.degenerate_reason` accepts) and Gamma-Gamma fitted on one features
    table; ``(None, None, why)`` when neither can be had."""
    f, r, big_t, m = _rfm(customers)
    n_repeat = int(spend_mask(f, m).sum())
    if n_repeat < MIN_REPEAT_CUSTOMERS:
        return None, None, f"only {n_repeat} repeat customers with positive spend"
    spend = fit_spend_model(f, m, penalizer)
    reasons = []
    for name, model_class in TRANSACTION_MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = model_class(penalizer=penalizer).fit(f, r, big_t)
        reason = degenerate_reason(model, f, r, big_t)
        if reason is None:
            return model, spend, None
        reasons.append(f"{name}: {reason}")
    return None, None, "no BTYD model to stack on: " + "; ".join(reasons)


class BaselineRatioBooster:
    """Gradient boosting of next-window value and transaction days as ratios to a baseline.

    With baseline b_i and target y_i, the point models minimise
    sum_i b_i d(y_i / b_i, exp F(x_i)) = sum_i d(y_i, b_i exp F(x_i)), d the Poisson
    deviance (log link): the prediction is b_i exp F(x_i) >= 0, F = 0 the baseline. With
    ``interval`` = (low, high), two quantile models minimise
    sum_i b_i rho_tau(y_i / b_i - q(x_i)) = sum_i rho_tau(y_i - b_i q(x_i)), so the bounds
    are b_i q(x_i) (clipped to [0, point] and [point, inf)). Baselines are floored at
    ``BASELINE_FLOOR`` times their training mean (the floor is kept for prediction).

    Fitted attributes: ``feature_names_``, ``floors_`` (value, transactions),
    ``value_model_``, ``transactions_model_``, ``low_model_``, ``high_model_`` (None
    without interval), ``n_customers_``.
    """

    def __init__(self, *, interval: tuple[float, float] | None = None, random_state: int = 0):
        self.interval = interval
        self.random_state = random_state

    def _regressor(self, **loss: Any) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=MAX_ITER,
            learning_rate=LEARNING_RATE,
            max_leaf_nodes=MAX_LEAF_NODES,
            min_samples_leaf=MIN_SAMPLES_LEAF,
            early_stopping=True,
            validation_fraction=VALIDATION_FRACTION,
            n_iter_no_change=TREES_WITHOUT_GAIN,
            random_state=self.random_state,
            **loss,
        )

    def fit(self, customers: pd.DataFrame, value, transactions, base_value, base_transactions):
        """Fit on a features table, each customer's value and transaction days in the
        following window, and their baselines (same length)."""
        x = feature_matrix(customers)
        y = [np.asarray(v, dtype=float) for v in (value, transactions)]
        base = [np.asarray(b, dtype=float) for b in (base_value, base_transactions)]
        if any(a.size != len(x) for a in (*y, *base)):
            raise ValueError("customers, targets and baselines must have the same length")
        if any(np.any(a < 0) for a in y) or not all(np.all(b >= 0) and b.sum() > 0 for b in base):
            raise ValueError("targets and baselines must be non-negative, baselines not all 0")
        self.feature_names_ = list(x.columns)
        self.n_customers_ = len(x)
        self.floors_ = tuple(BASELINE_FLOOR * float(b.mean()) for b in base)
        bv, bn = (np.maximum(b, f) for b, f in zip(base, self.floors_, strict=True))
        with _threads(len(x)):
            self.value_model_ = self._regressor(loss="poisson").fit(x, y[0] / bv, sample_weight=bv)
            self.transactions_model_ = self._regressor(loss="poisson").fit(
                x, y[1] / bn, sample_weight=bn
            )
            self.low_model_ = self.high_model_ = None
            if self.interval is not None:
                low, high = (self._regressor(loss="quantile", quantile=q) for q in self.interval)
                self.low_model_ = low.fit(x, y[0] / bv, sample_weight=bv)
                self.high_model_ = high.fit(x, y[0] / bv, sample_weight=bv)
        return self

    def predict(self, customers: pd.DataFrame, base_value, base_transactions) -> pd.DataFrame:
        """predicted_transactions, predicted_value (and value_low, value_high with an
        interval): each baseline times its fitted ratio."""
        x = feature_matrix(customers, self.feature_names_)
        bv, bn = (
            np.maximum(np.asarray(b, dtype=float), f)
            for b, f in zip((base_value, base_transactions), self.floors_, strict=True)
        )
        with _threads(len(x)):
            point = bv * self.value_model_.predict(x)
            result = pd.DataFrame(
                {
                    "predicted_transactions": bn * self.transactions_model_.predict(x),
                    "predicted_value": point,
                }
            )
            if self.low_model_ is not None:
                low = np.maximum(bv * self.low_model_.predict(x), 0.0)
                result["value_low"] = np.minimum(low, point)
                result["value_high"] = np.maximum(bv * self.high_model_.predict(x), point)
        return result


class StackedValueModel:
    """:class:`BaselineRatioBooster` on the customer features plus the BTYD outputs
    (:func:`stack_features`), with the BTYD expected value and transaction days as the
    baselines.

    ``btyd`` and ``spend`` are the models whose outputs the features and baselines come
    from when predicting (set :meth:`use` to swap them for the scoring date's fits); ``t``:
    the window in BTYD time units. Fitted attributes: ``booster_``, ``n_customers_``.
    """

    def __init__(self, btyd: Any, spend: Any, t: float, **booster_args: Any) -> None:
        self.btyd, self.spend, self.t = btyd, spend, t
        self.booster_args = booster_args

    def use(self, btyd: Any, spend: Any) -> StackedValueModel:
        """Predict with these BTYD and spend models from now on (fitted at the scoring date)."""
        self.btyd, self.spend = btyd, spend
        return self

    def fit(self, customers: pd.DataFrame, value: Any, transactions: Any) -> StackedValueModel:
        """Fit on a features table (stacked with the current BTYD models) and each
        customer's value and transaction days in the following window."""
        stacked = stack_features(customers, self.btyd, self.spend, self.t)
        self.booster_ = BaselineRatioBooster(**self.booster_args).fit(
            stacked,
            value,
            transactions,
            stacked["btyd_expected_value"],
            stacked["btyd_expected_transactions"],
        )
        self.n_customers_ = self.booster_.n_customers_
        return self

    def predict(self, customers: pd.DataFrame) -> pd.DataFrame:
        """:meth:`BaselineRatioBooster.predict` on the stacked features and baselines."""
        stacked = stack_features(customers, self.btyd, self.spend, self.t)
        return self.booster_.predict(
            stacked, stacked["btyd_expected_value"], stacked["btyd_expected_transactions"]
        )


def train_stacked(
    tables: CutoffTables,
    window: Window,
    t: float,
    penalizer: float,
    **booster_args: Any,
) -> tuple[StackedValueModel | None, str | None]:
    """The stacked model trained on features as of ``window.features_as_of`` (BTYD fitted
    there) against ``(features_as_of, target_end]``, or ``(None, why)``."""
    features, target = training_table(tables, window)
    problem = cannot_train(target, window)
    if problem:
        return None, problem
    btyd, spend, why = fit_btyd_at(features, penalizer)
    if btyd is None:
        return None, f"as of {window.features_as_of}: {why}"
    model = StackedValueModel(btyd, spend, t, **booster_args)
    return model.fit(features, target["holdout_value"], target["holdout_transactions"]), None


def add_stacked(
    result: BacktestResult,
    tables: CutoffTables,
    *,
    holdout_days: int,
    unit_days: float,
    penalizer: float,
    seed: int,
) -> None:
    """Backtest ``gbm_stacked`` at ``result.cutoff``: trained one window earlier, evaluated
    on the calibration customers with a BTYD refit at the cut-off; adds
    ``gbm_stacked_transactions`` / ``_value`` to ``result.holdout`` or says in
    ``result.skipped`` why not (the caller computes the metrics)."""
    h = dt.timedelta(days=holdout_days)
    train = Window(result.cutoff - h, result.cutoff)
    first = pd.to_datetime(tables.transactions["date"]).min().date()
    if train.features_as_of <= first:
        result.skipped[NAME] = (
            f"{NAME} needs two windows of ltv.holdout_days={holdout_days} before {result.end}; "
            f"the data start {first}"
        )
        return
    t = holdout_days / unit_days
    model, why = train_stacked(tables, train, t, penalizer, random_state=seed)
    if model is None:
        result.skipped[NAME] = f"{NAME}: {why}"
        return
    calibration, _ = tables.split(result.cutoff, result.end)
    btyd, spend, why = fit_btyd_at(calibration, penalizer)
    if btyd is None:
        result.skipped[NAME] = f"{NAME} as of {result.cutoff}: {why}"
        return
    predicted = model.use(btyd, spend).predict(calibration)
    result.holdout[f"{NAME}_transactions"] = predicted["predicted_transactions"].to_numpy()
    result.holdout[f"{NAME}_value"] = predicted["predicted_value"].to_numpy()
    result.fits[NAME] = {
        "train_features_as_of": train.features_as_of.isoformat(),
        "train_target_end": train.target_end.isoformat(),
        "btyd": type(btyd).__name__,
        "train_customers": int(model.n_customers_),
    }
