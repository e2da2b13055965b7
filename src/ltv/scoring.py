"""Scoring with fitted models: the BTYD + Gamma-Gamma CLV of any chunk of customers, and
the gradient-boosting alternative trained on a holdout window.

Pure of file paths: the ltv stage (:mod:`ltv.stage`) reads the inputs and writes the
outputs; these functions fit and score frames. Every row's score depends only on its own
customer, so chunks of customers.parquet score as the whole table does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from features import CutoffTables
from kequn import catalogue
from kequn.errors import UserError
from ltv import customer_lifetime_value
from ltv.backtest import TRANSACTION_MODELS, fit_spend_model, spend_inputs
from ltv.gbm import (
    GradientBoostingValueModel,
    cannot_train,
    horizon_scale,
    lifetime_value,
    scoring_windows,
    training_table,
)
from ltv.scale import HistoryCounts

#: named in error messages: the table whose rows are scored
CUSTOMERS = catalogue.CUSTOMERS.path


def fit_transaction_model(name: str, histories: HistoryCounts, penalizer: float) -> Any:
    """The BTYD model ``name`` fitted on every customer through the distinct-history counts
    (the same fit as on the per-customer rows: see :mod:`ltv.scale`)."""
    return TRANSACTION_MODELS[name](penalizer=penalizer).fit(
        histories.x, histories.t_x, histories.T, weights=histories.weights
    )


def fit_spend(frequency: Any, monetary_value: Any, penalizer: float) -> Any:
    """Gamma-Gamma on the repeat customers among the rows given (UserError when impossible)."""
    try:
        return fit_spend_model(frequency, monetary_value, penalizer)
    except ValueError as exc:
        raise UserError(f"{CUSTOMERS}: cannot fit the Gamma-Gamma spend model: {exc}") from None


def score_probabilistic(
    customers: pd.DataFrame,
    transaction_model: Any,
    spend_model: Any,
    settings: Mapping[str, Any],
    margin: np.ndarray,
) -> pd.DataFrame:
    """CLV columns and probability_alive of ``customers`` (any chunk of them) under fitted
    models. Every row depends only on its own customer, so chunks score as the whole does."""
    f, r, big_t, m = (
        customers[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    try:
        monetary = spend_inputs(spend_model, f, m)
    except ValueError as exc:
        raise UserError(f"{CUSTOMERS}: cannot use the Gamma-Gamma spend model: {exc}") from None
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
    return scores


def train_gbm(
    tables: CutoffTables, as_of: dt.date, settings: Mapping[str, Any]
) -> tuple[GradientBoostingValueModel, dict[str, Any]]:
    """Train on features as of ``as_of - H`` -> (as_of - H, as_of], from the run's cut-off
    tables over all customers' or the fit sample's transactions (the backtest has usually
    built that table already)."""
    train, scored = scoring_windows(as_of, settings["holdout_days"])
    first_date = pd.to_datetime(tables.transactions["date"]).min().date()
    if train.features_as_of <= first_date:
        raise UserError(
            f"params.yaml: ltv.model=gbm needs history before as_of - ltv.holdout_days "
            f"({train.features_as_of}) to train on; the data start {first_date}"
        )
    features, target = training_table(tables, train)
    problem = cannot_train(target, train)
    if problem:
        raise UserError(f"params.yaml: ltv.model=gbm cannot be trained: {problem}")
    booster = GradientBoostingValueModel(
        interval=settings["interval"], random_state=settings["seed"]
    )
    booster.fit(features, target["holdout_value"], target["holdout_transactions"])
    info = {
        "train_features_as_of": train.features_as_of.isoformat(),
        "train_target_end": train.target_end.isoformat(),
        "scored_features_as_of": scored.features_as_of.isoformat(),
        "train_customers": int(booster.n_customers_),
        "horizon_scale": horizon_scale(settings["holdout_days"], settings["horizon_months"]),
    }
    return booster, info


def score_gbm(
    booster: GradientBoostingValueModel,
    customers: pd.DataFrame,
    settings: Mapping[str, Any],
    margin: np.ndarray,
) -> pd.DataFrame:
    """Apply the trained booster to ``customers`` (features as of ``as_of``; any chunk) and
    scale the window prediction to the CLV horizon."""
    return lifetime_value(
        booster.predict(customers),
        scale=horizon_scale(settings["holdout_days"], settings["horizon_months"]),
        horizon_months=settings["horizon_months"],
        discount_rate=settings["discount_rate"],
        margin=margin,
        service_cost_per_transaction=settings["service_cost_per_transaction"],
        acquisition_cost=settings["acquisition_cost"],
    )
