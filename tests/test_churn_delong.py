"""DeLong's AUC variance (src/churn/delong.py) against its definition and a bootstrap.

The definition is computed here the slow way, from the Mann-Whitney kernel
``psi(x, y) = 1 if x > y, 1/2 if x = y, 0 otherwise`` over every (positive, negative)
pair (DeLong, DeLong & Clarke-Pearson 1988, equations 2-4), so the fast midrank
computation is checked against an independent one, ties included.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from churn.delong import auc_covariance, auc_variance


def _kernel_covariance(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    def placements(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (v10a, v01a), (v10b, v01b) = placements(a), placements(b)
    m, n = len(v10a), len(v01a)
    return np.cov(np.vstack([v10a, v10b])) / m + np.cov(np.vstack([v01a, v01b])) / n


def _planted(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    signal = np.round(y + rng.normal(0.0, 1.0, n), 1)  # rounded: many ties
    other = np.round(signal + rng.normal(0.0, 1.0, n), 1)
    return y, signal, other


def test_covariance_equals_the_pairwise_definition_with_ties():
    y, signal, other = _planted(600, 1)
    auc, cov = auc_covariance(y, np.vstack([signal, other]))
    assert auc == pytest.approx([roc_auc_score(y, signal), roc_auc_score(y, other)], abs=1e-12)
    assert cov == pytest.approx(_kernel_covariance(y, signal, other), rel=1e-10)
    assert auc_variance(y, signal) == pytest.approx(cov[0, 0], rel=1e-12)


def test_variance_matches_a_bootstrap_and_shrinks_with_n():
    y, signal, _ = _planted(3000, 2)
    rng = np.random.default_rng(3)
    draws = [roc_auc_score(y[i], signal[i]) for i in rng.integers(0, len(y), (400, len(y)))]
    assert np.sqrt(auc_variance(y, signal)) == pytest.approx(np.std(draws), rel=0.1)
    small = auc_variance(y[:750], signal[:750])
    assert small == pytest.approx(4 * auc_variance(y, signal), rel=0.25)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="two of each class"):
        auc_variance(np.array([1, 1, 1, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
