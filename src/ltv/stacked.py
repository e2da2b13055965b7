"""Stacked CLV candidate ``gbm_stacked``: gradient boosting that starts from the BTYD baseline.

The booster of :mod:`ltv.gbm` gets, besides the customer features (age ``T`` and
``tenure_days``, past spend ``total_value``, ...), the BTYD outputs of a BTYD model and a
Gamma-Gamma spend model fitted on the same features date: P(alive), the expected
transaction days in the next window, the expected spend per transaction and their product,
the BTYD expected value. Stacking (Wolpert 1992, "Stacked generalization") lets the booster
correct the BTYD value where the features say more, instead of competing with it.

Strictly temporal, as ``gbm``: trained on features as of ``t - 2H`` (BTYD fitted there too)
with targets in ``(t - 2H, t - H]``; evaluated on features as of ``t - H`` (BTYD refitted
there) against ``(t - H, t]``. For scoring, trained at ``as_of - H`` and applied at
``as_of`` with the stage's scoring BTYD and spend models.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import numpy as np
import pandas as pd

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
from ltv.gbm import GradientBoostingValueModel, Window, cannot_train, training_table

#: the name of the candidate in the backtest and in ``ltv.model``
NAME = "gbm_stacked"
#: the BTYD columns added to the features (also in :data:`ltv.gbm.NUMERIC_FEATURES`)
BTYD_COLUMNS = (
    "btyd_probability_alive",
    "btyd_expected_transactions",
    "btyd_expected_spend",
    "btyd_expected_value",
)


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


class StackedValueModel:
    """Gradient boosting of next-window value and transaction days on the customer features
    plus the BTYD outputs (:func:`stack_features`).

    ``btyd`` and ``spend`` are the models whose outputs the features carry when predicting
    (set :meth:`use` to swap them for the scoring date's fits); ``t``: the window in BTYD
    time units. Fitted attributes: ``booster_`` (:class:`ltv.gbm.GradientBoostingValueModel`),
    ``n_customers_``.
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
        self.booster_ = GradientBoostingValueModel(**self.booster_args)
        self.booster_.fit(stacked, value, transactions)
        self.n_customers_ = self.booster_.n_customers_
        return self

    def predict(self, customers: pd.DataFrame) -> pd.DataFrame:
        """:meth:`ltv.gbm.GradientBoostingValueModel.predict` on the stacked features."""
        return self.booster_.predict(stack_features(customers, self.btyd, self.spend, self.t))


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
