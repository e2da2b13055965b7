"""The accuracy benchmark's paired AUC comparison (bench/bench_accuracy.py, DeLong 1988)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_accuracy", REPO_ROOT / "bench" / "bench_accuracy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a score carrying a planted signal and two scores carrying none (with ties)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    signal = np.round(y + rng.normal(0.0, 1.0, n), 1)
    noise_a = np.round(rng.normal(0.0, 1.0, n), 1)
    noise_b = np.round(rng.normal(0.0, 1.0, n), 1)
    return y.astype(int), signal, noise_a, noise_b


def test_difference_is_the_difference_of_sklearn_aucs_with_ties(bench):
    y, signal, noise_a, _ = _planted(3000, 1)
    difference, _ = bench.auc_difference(y, signal, noise_a)
    expected = roc_auc_score(y, signal) - roc_auc_score(y, noise_a)
    assert difference == pytest.approx(expected, abs=1e-12)
    assert bench.auc_difference(y, signal, signal) == (0.0, 0.0)


def test_standard_error_matches_a_paired_bootstrap(bench):
    y, signal, noise_a, _ = _planted(2000, 2)
    correlated = signal + np.random.default_rng(3).normal(0.0, 0.5, len(y))
    _, se = bench.auc_difference(y, signal, correlated)
    rng = np.random.default_rng(4)
    draws = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        draws.append(roc_auc_score(y[i], signal[i]) - roc_auc_score(y[i], correlated[i]))
    assert se == pytest.approx(np.std(draws), rel=0.08)
    # the paired error is far smaller than the two AUCs' own errors added
    _, unpaired = bench.auc_difference(y, signal, noise_a)
    assert se < 0.5 * unpaired


def test_planted_signal_is_found_and_noise_is_not(bench):
    y, signal, noise_a, noise_b = _planted(3000, 5)
    difference, se = bench.auc_difference(y, signal, noise_a)
    assert difference > 0.2 and difference / se > 10
    difference, se = bench.auc_difference(y, noise_a, noise_b)
    assert abs(difference) / se < 3
