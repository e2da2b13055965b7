"""Calibration (so that "0.7" means about 70%) and the backtest metrics.

- isotonic: the monotone step function minimising squared error (Zadrozny & Elkan 2002),
  applied as the piecewise-linear map through the centres of its steps, so that clients
  with different raw scores keep their order (a step function ties them: on CDNOW as of
  1997-06-30 that alone cost 0.015 of ROC AUC);
- sigmoid: Platt scaling on the logit of the score, ``p = 1 / (1 + exp(-(a logit(s) + b)))``
  (Platt 1999).

Metrics on the backtest window: ROC AUC, PR AUC (average precision, churn = positive),
Brier score ``mean((p - y)^2)`` and expected calibration error over ``B`` equal-count bins
``ECE = sum_b n_b / n |mean(p)_b - mean(y)_b|`` (Naeini et al. 2015).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

METHODS = ("isotonic", "sigmoid")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class Calibrator:
    """Maps a raw churn score to a calibrated probability; ``fit(score, churned) -> self``."""

    def __init__(self, method: str = "isotonic"):
        if method not in METHODS:
            raise ValueError(f"calibration must be one of {METHODS}, got {method!r}")
        self.method = method

    def fit(self, score: np.ndarray, churned: np.ndarray) -> Calibrator:
        score = np.asarray(score, dtype=float)
        y = np.asarray(churned, dtype=float)
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.model_.fit(score, y)
            self.knots_ = _step_centres(score, self.model_.predict(score))
        else:
            self.model_ = LogisticRegression(C=1e4).fit(_logit(score)[:, None], y.astype(int))
        return self

    def transform(self, score: np.ndarray) -> np.ndarray:
        score = np.asarray(score, dtype=float)
        if self.method == "isotonic":
            xs, ys = self.knots_
            calibrated = np.interp(score, xs, ys) if len(xs) else self.model_.predict(score)
        else:
            calibrated = self.model_.predict_proba(_logit(score)[:, None])[:, 1]
        return np.clip(np.nan_to_num(calibrated, nan=0.5), 0.0, 1.0)


def _step_centres(score: np.ndarray, fitted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` knots: for each step of the isotonic fit, the mean raw score of its block
    and its level (a non-decreasing, piecewise-linear interpolant of the steps)."""
    ok = np.isfinite(score) & np.isfinite(fitted)
    if not ok.any():
        return np.zeros(0), np.zeros(0)
    frame = pd.DataFrame({"x": score[ok], "y": fitted[ok]})
    blocks = frame.groupby("y", sort=True)["x"].mean()
    xs, ys = blocks.to_numpy(dtype=float), blocks.index.to_numpy(dtype=float)
    order = np.argsort(xs, kind="mergesort")
    xs, ys = xs[order], np.maximum.accumulate(ys[order])
    keep = np.concatenate([[True], np.diff(xs) > 0])
    xs, ys = xs[keep], ys[keep]
    # raw scores are probabilities: beyond the fitted range, on towards (0, 0) and (1, 1),
    # so that scores outside the backtest's range are not tied at the end levels either
    if xs[0] > 0:
        xs, ys = np.concatenate([[0.0], xs]), np.concatenate([[0.0], ys])
    if xs[-1] < 1:
        xs, ys = np.concatenate([xs, [1.0]]), np.concatenate([ys, [1.0]])
    return xs, ys


def quantile_map(score: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rank-preserving map of ``score`` onto the distribution of ``reference``.

    The customer with the k-th smallest score gets the k-th smallest reference value (tied
    scores share the interpolated value at their average rank): the ranking (ROC AUC) is
    that of ``score``, the distribution (the population churn rate) that of ``reference``.
    """
    reference = np.sort(np.asarray(reference, dtype=float))
    if len(reference) == 0:
        return np.asarray(score, dtype=float)
    ranks = rankdata(np.asarray(score, dtype=float), method="average")
    return np.interp(ranks, np.arange(1, len(reference) + 1), reference)


def quantile_map_fitted(
    score: np.ndarray, fitted_scores: np.ndarray, fitted_reference: np.ndarray
) -> np.ndarray:
    """:func:`quantile_map` learnt on a sample and applied to any scores (chunk by chunk).

    ``fitted_scores`` and ``fitted_reference``: the sample's scores and reference values,
    both sorted, of equal length ``n``. A score's average rank among the sample's scores,
    ``r = (#less + #less-or-equal + 1) / 2`` (``rankdata(method="average")`` when the score
    is one of them; between two neighbours otherwise), is interpolated in the sorted
    reference at ranks ``1..n``. On the sample itself it equals ``quantile_map``.
    """
    reference = np.asarray(fitted_reference, dtype=float)
    if len(reference) == 0:
        return np.asarray(score, dtype=float)
    score = np.asarray(score, dtype=float)
    less = np.searchsorted(fitted_scores, score, side="left")
    not_more = np.searchsorted(fitted_scores, score, side="right")
    ranks = 0.5 * (less + not_more + 1)
    return np.interp(ranks, np.arange(1, len(reference) + 1), reference)


def cross_fitted(
    score: np.ndarray, churned: np.ndarray, method: str, seed: int, folds: int = 5
) -> np.ndarray:
    """Out-of-fold calibrated scores: each fold calibrated by a map fitted on the others.

    Used to report honest after-calibration metrics on the window the final map is fitted on.
    """
    score = np.asarray(score, dtype=float)
    y = np.asarray(churned, dtype=int)
    folds = int(min(folds, np.bincount(y, minlength=2).min()))
    if folds < 2:
        return Calibrator(method).fit(score, y).transform(score)
    out = np.empty_like(score)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32))
    for train, test in splitter.split(score[:, None], y):
        out[test] = Calibrator(method).fit(score[train], y[train]).transform(score[test])
    return out


class CrossFitCache:
    """Each candidate's calibration against one cut-off's labels, computed once: the
    out-of-fold calibrated scores (:func:`cross_fitted`) and the map fitted on every row
    (:class:`Calibrator`), by candidate name.

    The per-candidate metrics, the blend and the stack all need the same cross-fitted
    scores of the same candidates on the same labels; the folds depend only on ``y`` and
    ``seed``, so one fit per (candidate, cut-off) serves them all. An entry is reused only
    for the very score array it was computed from (``is``), so a score replaced after the
    fact is calibrated afresh.
    """

    def __init__(self, churned: np.ndarray, method: str, seed: int):
        self.y = np.asarray(churned, dtype=int)
        self.method = method
        self.seed = seed
        self._oof: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._maps: dict[str, tuple[np.ndarray, Calibrator]] = {}

    def oof(self, name: str, score: np.ndarray) -> np.ndarray:
        """:func:`cross_fitted` of ``score`` (candidate ``name``) on the labels."""
        cached = self._oof.get(name)
        if cached is None or cached[0] is not score:
            cached = (score, cross_fitted(score, self.y, self.method, self.seed))
            self._oof[name] = cached
        return cached[1]

    def calibrator(self, name: str, score: np.ndarray) -> Calibrator:
        """:class:`Calibrator` of ``score`` (candidate ``name``) fitted on every row."""
        cached = self._maps.get(name)
        if cached is None or cached[0] is not score:
            cached = (score, Calibrator(self.method).fit(score, self.y))
            self._maps[name] = cached
        return cached[1]


def expected_calibration_error(
    predicted: np.ndarray, observed: np.ndarray, bins: int = 10
) -> float:
    """ECE over equal-count bins of the predicted probability."""
    table = calibration_table(predicted, observed, bins)
    return float(
        np.sum(table["n"] / table["n"].sum() * (table["predicted"] - table["observed"]).abs())
    )


def calibration_table(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed churn rate in equal-count bins of the prediction."""
    frame = pd.DataFrame({"p": np.asarray(predicted, float), "y": np.asarray(observed, float)})
    order = frame["p"].rank(method="first").to_numpy()
    frame["bin"] = np.minimum((order - 1) * bins // max(len(frame), 1), bins - 1).astype(int)
    grouped = frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")
    )
    return grouped.reset_index(drop=True)


def score_metrics(score: np.ndarray, churned: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision) and Brier score of a churn probability."""
    y = np.asarray(churned, dtype=int)
    p = np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(p, y),
    }


def roc_points(
    score: np.ndarray, churned: np.ndarray, model: str, points: int = 201
) -> pd.DataFrame:
    """ROC curve (false_positive_rate, true_positive_rate, model) on a grid of ``points`` FPRs.

    The exact curve is interpolated linearly between its vertices (the expected TPR of a
    random tie-break), which keeps the plot file small for any number of customers.
    """
    fpr, tpr, _ = roc_curve(np.asarray(churned, int), np.asarray(score, float))
    grid = np.linspace(0.0, 1.0, points)
    # right-most TPR at equal FPRs (vertical segments) so the curve stays on the upper hull
    rate = np.interp(grid, fpr, tpr, left=0.0, right=1.0)
    rate[0] = tpr[fpr == 0].max() if (fpr == 0).any() else 0.0
    return pd.DataFrame(
        {"false_positive_rate": grid.round(4), "true_positive_rate": rate.round(6), "model": model}
    )


def gain_points(score: np.ndarray, churned: np.ndarray, points: int = 20) -> pd.DataFrame:
    """Cumulative gain: share of churners caught in the top share of customers by score."""
    y = np.asarray(churned, float)[np.argsort(-np.asarray(score, float), kind="mergesort")]
    caught = np.concatenate([[0.0], np.cumsum(y)]) / max(y.sum(), 1.0)
    share = np.linspace(0.0, 1.0, points + 1)
    index = np.round(share * len(y)).astype(int)
    return pd.DataFrame(
        {
            "share_of_customers": share.round(4),
            "model": caught[index].round(6),
            "random": share.round(4),
        }
    )
