"""Supervised alternative to the BTYD models: gradient boosting on the customer features.

A :class:`~sklearn.ensemble.HistGradientBoostingRegressor` learns the value (and the
number of transaction days) in the ``holdout_days`` *after* a features date from the
customer features *as of* that date. It is never trained on the window it is scored on:

- backtest: train on features as of ``as_of - 2H`` -> target in ``(as_of - 2H, as_of - H]``;
  evaluate on features as of ``as_of - H`` -> target in ``(as_of - H, as_of]``;
- scoring: train on features as of ``as_of - H`` -> target in ``(as_of - H, as_of]``;
  apply to features as of ``as_of`` -> prediction for ``(as_of, as_of + H]``.

The prediction is for one window of ``H`` days; for the CLV horizon it is scaled linearly
by ``horizon_days / H`` (horizon_days = horizon_months * 30.4375), i.e. the customer is
assumed to keep the rate predicted for the next window, spread evenly over the months of the
horizon (Friedman 2001, "Greedy function approximation: a gradient boosting machine";
scikit-learn's histogram variant after LightGBM, Ke et al. 2017).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from features import CutoffTables
from kequn.rules import DAYS_PER_MONTH

#: days per month, the same convention the CLV discounting uses

#: numeric customer-feature columns (docs/outputs.md) the model may use when present
NUMERIC_FEATURES = (
    "n_transactions",
    "n_days",
    "frequency",
    "recency",
    "T",
    "total_value",
    "mean_value",
    "monetary_value",
    "gap_mean_days",
    "gap_std_days",
    "days_since_last",
    "tenure_days",
    "recent_value",
    "prior_value",
    "recent_n_days",
    "prior_n_days",
    "value_trend",
    "n_products",
    "recent_n_products",
    "prior_n_products",
    # BTYD outputs, present only in the stacked candidate's tables (ltv.stacked)
    "btyd_probability_alive",
    "btyd_expected_transactions",
    "btyd_expected_spend",
    "btyd_expected_value",
)
#: below this many customers the boosters run on one thread: OpenMP start-up and spin-waiting
#: cost more than they save on small tables (and badly so on a busy machine)
SINGLE_THREAD_BELOW = 50_000

#: one column per category; a category absent from a table means a share of 0
SHARE_PREFIXES = ("share_product_", "share_channel_")


def _threads(n_rows: int) -> Any:
    """One OpenMP thread for small tables, the default otherwise."""
    return threadpool_limits(limits=1 if n_rows < SINGLE_THREAD_BELOW else None, user_api="openmp")


@dataclass(frozen=True)
class Window:
    """Features as of ``features_as_of``; target = what happens in (features_as_of, target_end]."""

    features_as_of: dt.date
    target_end: dt.date


def backtest_windows(as_of: dt.date, holdout_days: int) -> tuple[Window, Window]:
    """(training window, evaluated window) for the backtest; they do not overlap."""
    h = dt.timedelta(days=holdout_days)
    return Window(as_of - 2 * h, as_of - h), Window(as_of - h, as_of)


def scoring_windows(as_of: dt.date, holdout_days: int) -> tuple[Window, Window]:
    """(training window, scored window) for scoring: train up to ``as_of``, predict after it."""
    h = dt.timedelta(days=holdout_days)
    return Window(as_of - h, as_of), Window(as_of, as_of + h)


def training_table(tables: CutoffTables, window: Window) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features as of ``window.features_as_of`` and, per customer of those features,
    holdout_transactions and holdout_value in (features_as_of, target_end] (zeros if none),
    from the run's :class:`features.CutoffTables`."""
    features, target = tables.split(window.features_as_of, window.target_end)
    target = features[["customer_id"]].merge(target, on="customer_id", how="left")
    target = target.fillna({"holdout_transactions": 0, "holdout_value": 0.0})
    return features, target[["customer_id", "holdout_transactions", "holdout_value"]]


def cannot_train(target: pd.DataFrame, window: Window) -> str | None:
    """Why a training table is unusable (no customers or no transaction in its target
    window), or None."""
    if target.empty:
        return f"no customers with transactions on or before {window.features_as_of}"
    if target["holdout_transactions"].sum() == 0:
        return f"no transactions in ({window.features_as_of}, {window.target_end}] to learn from"
    return None


def horizon_scale(holdout_days: int, horizon_months: float) -> float:
    """Factor from a ``holdout_days`` prediction to the ``horizon_months`` CLV horizon."""
    return horizon_months * DAYS_PER_MONTH / holdout_days


def feature_matrix(customers: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The numeric model inputs from a customers table (docs/outputs.md columns).

    Without ``columns``: every column of :data:`NUMERIC_FEATURES` present plus every share
    column, sorted. With ``columns`` (the training columns): the same columns in the same
    order; a share column missing here is 0, any other missing column NaN (the booster
    handles missing values natively).
    """
    if columns is None:
        shares = sorted(c for c in customers.columns if c.startswith(SHARE_PREFIXES))
        columns = [c for c in NUMERIC_FEATURES if c in customers.columns] + shares
    matrix = customers.reindex(columns=columns).astype(float)
    share_columns = [c for c in columns if c.startswith(SHARE_PREFIXES)]
    matrix[share_columns] = matrix[share_columns].fillna(0.0)
    return matrix.reset_index(drop=True)


class GradientBoostingValueModel:
    """Gradient boosting of next-window value and transaction days on customer features.

    value: squared-error loss (the mean, so totals add up); transaction days: Poisson loss
    (a count); with ``interval`` also two quantile-loss models for the value interval.

    Fitted attributes: ``feature_names_``, ``value_model_``, ``transactions_model_``,
    ``low_model_``, ``high_model_`` (None without interval), ``n_customers_``.
    """

    def __init__(
        self,
        *,
        interval: tuple[float, float] | None = None,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        random_state: int = 0,
    ) -> None:
        self.interval = interval
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _regressor(self, **loss: Any) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            random_state=self.random_state,
            **loss,
        )

    def fit(
        self, customers: pd.DataFrame, value: Any, transactions: Any
    ) -> GradientBoostingValueModel:
        """Fit on a customers table and each customer's value and transaction days in the
        following window."""
        x = feature_matrix(customers)
        value = np.asarray(value, dtype=float)
        transactions = np.asarray(transactions, dtype=float)
        if len(x) != value.size or value.size != transactions.size:
            raise ValueError("customers, value and transactions must have the same length")
        if np.any(transactions < 0):
            raise ValueError("transaction counts must be non-negative")
        self.feature_names_ = list(x.columns)
        self.n_customers_ = len(x)
        with _threads(len(x)):
            self._fit(x, value, transactions)
        return self

    def _fit(self, x: pd.DataFrame, value: np.ndarray, transactions: np.ndarray) -> None:
        self.value_model_ = self._regressor(loss="squared_error").fit(x, value)
        self.transactions_model_ = self._regressor(loss="poisson").fit(x, transactions)
        self.low_model_ = self.high_model_ = None
        if self.interval is not None:
            low, high = self.interval
            self.low_model_ = self._regressor(loss="quantile", quantile=low).fit(x, value)
            self.high_model_ = self._regressor(loss="quantile", quantile=high).fit(x, value)

    def predict(self, customers: pd.DataFrame) -> pd.DataFrame:
        """predicted_transactions, predicted_value (and value_low, value_high with an
        interval) for the window after each customer's features date."""
        x = feature_matrix(customers, self.feature_names_)
        with _threads(len(x)):
            return self._predict(x)

    def _predict(self, x: pd.DataFrame) -> pd.DataFrame:
        result = pd.DataFrame(
            {
                "predicted_transactions": self.transactions_model_.predict(x),
                "predicted_value": self.value_model_.predict(x),
            }
        )
        if self.low_model_ is not None:
            low = self.low_model_.predict(x)
            high = self.high_model_.predict(x)
            point = result["predicted_value"].to_numpy()
            # quantile models are fitted separately: keep low <= point <= high
            result["value_low"] = np.minimum(low, point)
            result["value_high"] = np.maximum(high, point)
        return result


def lifetime_value(
    predictions: pd.DataFrame,
    *,
    scale: float,
    horizon_months: int,
    discount_rate: float,
    margin: Any,
    service_cost_per_transaction: float = 0.0,
    acquisition_cost: float = 0.0,
) -> pd.DataFrame:
    """CLV from a window prediction, on the same definitions as ``ltv.customer_lifetime_value``.

    With V = scale * predicted value and N = scale * predicted transactions spread evenly
    over the M = ``horizon_months`` months, and the mean monthly discount factor
    D = (1/M) * sum_{m=1..M} (1 + discount_rate)^-m:
    revenue_contribution = D V; clv = D (margin V - service_cost N);
    profit_contribution = clv - acquisition_cost; clv_low/clv_high use the quantile values.
    """
    months = np.arange(1, horizon_months + 1)
    discount = float(np.mean((1.0 + discount_rate) ** -months)) if horizon_months > 0 else 0.0
    margin = np.asarray(margin, dtype=float)
    value = scale * predictions["predicted_value"].to_numpy()
    count = scale * predictions["predicted_transactions"].to_numpy()
    service = service_cost_per_transaction * count

    def clv_of(v: np.ndarray) -> np.ndarray:
        return discount * (margin * v - service)

    clv = clv_of(value)
    low = clv_of(scale * predictions.get("value_low", predictions["predicted_value"]).to_numpy())
    high = clv_of(scale * predictions.get("value_high", predictions["predicted_value"]).to_numpy())
    return pd.DataFrame(
        {
            "expected_transactions": count,
            "revenue_contribution": discount * value,
            "clv": clv,
            "clv_low": np.minimum(np.minimum(low, high), clv),
            "clv_high": np.maximum(np.maximum(low, high), clv),
            "profit_contribution": clv - acquisition_cost,
        }
    )
