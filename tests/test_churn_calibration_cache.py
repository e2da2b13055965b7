"""The cut-off's calibration cache (churn.calibration.CrossFitCache): each candidate is
cross-fitted once per cut-off, and the blend, the stack and the metrics built from the
cache are exactly those built by fitting again."""

from __future__ import annotations

import numpy as np

import churn.calibration as calibration
from churn.calibration import CrossFitCache, cross_fitted
from churn.candidates import blend_backtest_score, fit_blend
from churn.stack import fit_stack, stack_backtest_score


def _scores(seed: int = 5, n: int = 3000):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n))
    y = (rng.random(n) < 1 / (1 + np.exp(-(a + b)))).astype(np.int8)
    scores = {"btyd": 1 / (1 + np.exp(-a)), "survival": 1 / (1 + np.exp(-b))}
    return scores, y


def _counting(monkeypatch) -> list[int]:
    calls = [0]
    original = calibration.cross_fitted

    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(calibration, "cross_fitted", counted)
    return calls


def test_each_candidate_is_cross_fitted_once_and_a_new_score_again(monkeypatch):
    scores, y = _scores()
    calls = _counting(monkeypatch)
    cache = CrossFitCache(y, "isotonic", 3)
    first = cache.oof("btyd", scores["btyd"])
    assert cache.oof("btyd", scores["btyd"]) is first
    assert calls[0] == 1
    assert np.array_equal(first, cross_fitted(scores["btyd"], y, "isotonic", 3))
    # another array under the same name (a score replaced afterwards) is fitted afresh
    replaced = scores["btyd"] ** 2
    assert np.array_equal(cache.oof("btyd", replaced), cross_fitted(replaced, y, "isotonic", 3))
    assert calls[0] == 2  # the refit (the direct calls above are not counted)
    assert cache.calibrator("survival", scores["survival"]) is cache.calibrator(
        "survival", scores["survival"]
    )


def test_blend_and_stack_from_the_cache_equal_fitting_again():
    scores, y = _scores(seed=6)
    members = ["btyd", "survival"]
    for method in ("isotonic", "sigmoid"):
        cache = CrossFitCache(y, method, 2)
        blend, _ = blend_backtest_score(scores, y, method, 2)
        cached_blend, _ = blend_backtest_score(scores, y, method, 2, cache)
        assert np.array_equal(blend, cached_blend)
        plain = fit_stack(scores, members, y, method, 2)
        cached = fit_stack(scores, members, y, method, 2, cache)
        assert plain.intercept == cached.intercept
        assert np.array_equal(plain.weights, cached.weights)
        maps = fit_blend(scores, y, method, cache)
        assert maps["btyd"] is cached.calibrators["btyd"]  # one map, shared
        fresh = fit_blend(scores, y, method)
        for name in members:
            assert np.array_equal(
                maps[name].transform(scores[name]), fresh[name].transform(scores[name])
            )
        assert np.array_equal(
            stack_backtest_score(scores, members, y, method, 2),
            stack_backtest_score(scores, members, y, method, 2, cache=cache),
        )
