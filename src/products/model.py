"""Take-up classifiers of one product line, the naive baselines, and the ranking metrics.

Candidates (one fitted per line, on the customers who do not hold the line):

- ``hgb``: gradient-boosted trees (Friedman 2001; scikit-learn's histogram variant,
  ``HistGradientBoostingClassifier``), missing values routed by the trees;
- ``logistic``: L2 logistic regression on ``sign(x) log(1 + |x|)`` of the inputs (money and
  day counts are heavy-tailed), median-imputed with missing-value indicators, standardised.

Baselines: ``popularity`` scores every customer with the line's take-up rate in the
training window (one number: AUC 0.5 and lift 1 within the line, by construction);
``lead_line`` scores a customer with the training take-up rate of the customers whose most
used line (largest ``count_share_<l>``; ``none`` without any) is the same as theirs;
``activity`` ranks customers by their transaction days in the recent window
(``recent_n_days``): it shows how much of a model's lift busy clients alone would give.

Metrics of a score ``s`` against take-up ``y``: ROC AUC, PR AUC (average precision) and
``lift@k = rate(top k) / rate(all)`` with ties shared (:func:`lift_at`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

#: the fitted candidates, in the order ties are broken
CANDIDATES = ("hgb", "logistic")
BASELINES = ("popularity", "lead_line", "activity")


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) log(1 + |x|)``, elementwise (NaN stays NaN)."""
    return np.sign(x) * np.log1p(np.abs(x))


def _estimator(kind: str, n_rows: int, seed: int):
    if kind == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=max(5, min(50, n_rows // 50)),
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    if kind == "logistic":
        return make_pipeline(
            FunctionTransformer(signed_log),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=2000),
        )
    raise ValueError(f"unknown take-up model {kind!r}; expected one of {CANDIDATES}")


def lead_line(x: pd.DataFrame) -> np.ndarray:
    """Each customer's most used line (the largest ``count_share_<l>``), ``none`` without
    any row of a line."""
    columns = [c for c in x.columns if c.startswith("count_share_")]
    if not columns:
        return np.full(len(x), "none", dtype=object)
    shares = x[columns].to_numpy(dtype=float)
    names = np.array([c.removeprefix("count_share_") for c in columns], dtype=object)
    best = names[shares.argmax(axis=1)]
    return np.where(shares.max(axis=1) > 0, best, "none")


class TakeUpModel:
    """P(take-up of one line within the horizon) for customers not holding it.

    Parameters
    ----------
    kind
        ``hgb``, ``logistic``, ``popularity``, ``lead_line`` or ``activity`` (see the module
        docstring; ``activity`` is a ranking score, not a probability).
    seed
        Random state of the trees.

    Attributes
    ----------
    columns_ : list of str
        The training matrix's columns; scoring aligns to them (missing ones NaN).
    rate_ : float
        The training take-up rate (what ``popularity`` predicts).
    group_rates_ : dict
        ``lead_line`` only: the training take-up rate by most used line.
    n_train_ : int
    """

    def __init__(self, kind: str = "hgb", seed: int = 0):
        self.kind = kind
        self.seed = seed

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> TakeUpModel:
        y = np.asarray(y, dtype=int)
        self.n_train_ = int(len(y))
        self.rate_ = float(y.mean()) if len(y) else 0.0
        # an all-missing column (days since a line nobody in the population used) is dropped
        x = x.loc[:, x.notna().any()]
        self.columns_ = list(x.columns)
        if self.kind in ("popularity", "activity"):
            return self
        if self.kind == "lead_line":
            groups = pd.Series(y).groupby(lead_line(x)).mean()
            self.group_rates_ = {str(k): float(v) for k, v in groups.items()}
            return self
        if len(np.unique(y)) < 2:
            raise ValueError("the training labels have a single class")
        self.model_ = _estimator(self.kind, len(y), self.seed)
        with threadpool_limits(limits=1):
            self.model_.fit(x.to_numpy(dtype=float), y)
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """P(take-up) per row of ``x``."""
        if self.kind == "popularity":
            return np.full(len(x), self.rate_)
        if self.kind == "activity":
            days = x["recent_n_days"] if "recent_n_days" in x else pd.Series(0.0, index=x.index)
            return days.fillna(0.0).to_numpy(dtype=float)
        if self.kind == "lead_line":
            groups = pd.Series(lead_line(x))
            return groups.map(self.group_rates_).fillna(self.rate_).to_numpy(dtype=float)
        aligned = x.reindex(columns=self.columns_).to_numpy(dtype=float)
        with threadpool_limits(limits=1):
            return self.model_.predict_proba(aligned)[:, 1]


def lift_at(score: np.ndarray, y: np.ndarray, share: float = 0.1) -> float:
    """Take-up rate of the top ``share`` by score over the overall rate.

    With ``n`` customers the top holds ``m = share * n`` of them, filled in decreasing score;
    a group of tied scores that straddles the cut counts with the fraction of it that fits
    (its expected take-up under a random order of the ties), so a constant score has lift
    exactly 1. NaN when nobody takes up.
    """
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=float)
    n, rate = len(y), float(np.mean(y)) if len(y) else 0.0
    if n == 0 or rate == 0:
        return float("nan")
    m = share * n
    frame = pd.DataFrame({"s": score, "y": y}).groupby("s", sort=True)["y"].agg(["size", "sum"])
    frame = frame.iloc[::-1]
    before = np.concatenate(([0.0], np.cumsum(frame["size"].to_numpy())[:-1]))
    fits = np.clip((m - before) / frame["size"].to_numpy(), 0.0, 1.0)
    positives = float((fits * frame["sum"].to_numpy()).sum())
    return positives / m / rate


def ranking_metrics(score: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, lift@10% and the observed take-up rates of the top decile and of
    everyone."""
    y = np.asarray(y, dtype=int)
    lift = lift_at(score, y, 0.1)
    rate = float(y.mean())
    return {
        "auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "lift_at_10": float(lift),
        "take_up_rate": rate,
        "top_decile_take_up_rate": float(lift * rate),
    }
