"""DeLong's variance of the ROC AUC, for one score or several scored on the same labels.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach", Biometrics 44(3),
with the midrank computation of Sun & Xu (2014), "Fast implementation of DeLong's
algorithm", IEEE Signal Processing Letters 21(11). Written here because scikit-learn gives
the AUC but not its variance, and the churn choice and the accuracy benchmark need both.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc_covariance(churned: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUCs of ``scores`` (one row per score) and their DeLong covariance matrix.

    Parameters
    ----------
    churned : array of shape (n,)
        The labels (1 or True: positive).
    scores : array of shape (k, n) or (n,)
        ``k`` scores of the same ``n`` rows.

    Returns
    -------
    auc : array of shape (k,)
    covariance : array of shape (k, k)

    Notes
    -----
    For ``m`` positives and ``n`` negatives, the placement values of score ``r`` are
    ``V10_i = (R_i - R^X_i) / n`` for each positive ``i`` (its midrank among all rows
    minus its midrank among the positives) and ``V01_j = 1 - (R_j - R^Y_j) / m`` for each
    negative ``j``; ``AUC_r = mean_i V10_i`` (ties count one half) and
    ``Cov(AUC_r, AUC_s) = S10_rs / m + S01_rs / n``, with ``S10`` and ``S01`` the sample
    covariances of the placement values over the positives and over the negatives.
    """
    y = np.asarray(churned).astype(bool)
    block = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = block[:, y], block[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's variance needs two of each class: {m} positive, {n} negative")
    overall = rankdata(block, axis=1)
    v10 = (overall[:, y] - rankdata(pos, axis=1)) / n
    v01 = 1.0 - (overall[:, ~y] - rankdata(neg, axis=1)) / m
    covariance = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return v10.mean(axis=1), covariance


def auc_variance(churned: np.ndarray, score: np.ndarray) -> float:
    """DeLong's variance of one score's ROC AUC (:func:`auc_covariance` with ``k = 1``)."""
    return float(auc_covariance(churned, score)[1][0, 0])
