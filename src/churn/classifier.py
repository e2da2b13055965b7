"""Supervised churn score: gradient-boosted trees on the customer feature table.

Trained on features as of ``A - 2h`` with labels from ``(A - 2h, A - h]``; evaluated on
features as of ``A - h`` against ``(A - h, A]``; applied to features as of ``A``
(:mod:`churn.backtest`). Boosting: Friedman (2001), histogram variant of scikit-learn's
``HistGradientBoostingClassifier`` (LightGBM-style, Ke et al. 2017). OpenMP is held to one
thread: on a shared, busy machine more threads thrash (measured: 72 s with two threads
against 5 s with one, 23,570 rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from features.signals import BALANCE_COLUMNS, EVENT_COLUMNS

#: the balance and event features (features.signals) used when present, besides the
#: per-line AUM shares ``aum_share_<line>``
SIGNAL_FEATURES = (*BALANCE_COLUMNS, *EVENT_COLUMNS)
SIGNAL_PREFIX = "aum_share_"


def is_signal_feature(column: str) -> bool:
    """True for a balance or event feature column (:mod:`features.signals`)."""
    return column in SIGNAL_FEATURES or column.startswith(SIGNAL_PREFIX)


#: numeric feature columns used when present (docs/outputs.md)
NUMERIC_FEATURES = [
    "days_since_last",
    "gap_mean_days",
    "gap_std_days",
    "frequency",
    "recency",
    "T",
    "n_transactions",
    "n_days",
    "total_value",
    "mean_value",
    "monetary_value",
    "tenure_days",
    "recent_value",
    "prior_value",
    "recent_n_days",
    "prior_n_days",
    "value_trend",
    "n_products",
    "recent_n_products",
    "prior_n_products",
    "asset_balance",
    # balances and service events (features.signals), when those extracts are configured
    *SIGNAL_FEATURES,
    # stacking: the BTYD outputs at the same cut-off (churn.candidates.btyd_features)
    "btyd_p_alive",
    "btyd_expected_transactions",
    "btyd_clv",
]
#: categorical columns one-hot encoded when present
CATEGORICAL_FEATURES = ["client_type", "main_channel", "recent_main_channel"]


def feature_matrix(features: pd.DataFrame) -> pd.DataFrame:
    """Model inputs: numeric features, product/channel shares, one-hot categoricals.

    Derived: ``silence_ratio = days_since_last / gap_mean_days`` (how overdue the customer
    is against their own rhythm). Missing values stay NaN (the trees route them).
    """
    f = features.reset_index(drop=True)
    out = pd.DataFrame(index=f.index)
    for column in NUMERIC_FEATURES:
        if column in f:
            out[column] = pd.to_numeric(f[column], errors="coerce").astype(float)
    if {"days_since_last", "gap_mean_days"} <= set(out.columns):
        out["silence_ratio"] = out["days_since_last"] / out["gap_mean_days"].where(
            out["gap_mean_days"] > 0
        )
    for column in sorted(
        c for c in f.columns if c.startswith(("share_product_", "share_channel_", SIGNAL_PREFIX))
    ):
        out[column] = pd.to_numeric(f[column], errors="coerce").astype(float)
    for column in CATEGORICAL_FEATURES:
        if column in f:
            values = f[column].fillna("").astype(str)
            for level in sorted(set(values) - {""}):
                out[f"{column}={level}"] = (values == level).astype(float)
    return out


class ChurnClassifier:
    """HistGradientBoostingClassifier on :func:`feature_matrix`; predicts P(churn).

    Fitted attributes: ``columns_`` (the training matrix's columns; scoring aligns to them,
    unseen columns dropped, missing ones NaN/0), ``model_``, ``n_train_``, ``churn_rate_``.
    """

    def __init__(self, seed: int = 0, max_iter: int = 200, learning_rate: float = 0.05):
        self.seed = seed
        self.max_iter = max_iter
        self.learning_rate = learning_rate

    def fit(self, features: pd.DataFrame, churned: np.ndarray) -> ChurnClassifier:
        x = feature_matrix(features)
        y = np.asarray(churned, dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError("the training labels have a single class")
        x = x.loc[:, x.notna().any()]  # an all-missing column (e.g. unmapped asset_balance)
        self.columns_ = list(x.columns)
        model = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=15,
            min_samples_leaf=max(5, min(50, len(y) // 50)),
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.seed,
        )
        with threadpool_limits(1):
            self.model_ = model.fit(x.to_numpy(dtype=float), y)
        self.n_train_ = len(y)
        self.churn_rate_ = float(y.mean())
        return self

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(churn) per customer (row order of ``features``)."""
        x = feature_matrix(features)
        x = x.reindex(columns=self.columns_)
        indicators = [c for c in self.columns_ if c.startswith("share_") or "=" in c]
        x[indicators] = x[indicators].fillna(0.0)
        positive = list(self.model_.classes_).index(1)
        with threadpool_limits(1):
            return self.model_.predict_proba(x.to_numpy(dtype=float))[:, positive]
