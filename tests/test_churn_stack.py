"""The ``stack`` candidate: non-negative logistic stacking of the members' calibrated
probabilities (churn.stack).

The truth is planted: churn depends on two independent client traits ``a`` and ``b``.
Where one member sees ``a`` and the other ``b``, both weights must be positive and the
stack must rank better than each member; where one member is pure noise, its weight must
be about zero. The backtest score of a fold must not depend on that fold's labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from churn.stack import fit_stack, fit_weights, logit, stack_backtest_score, stack_score

MEMBERS = ["survival", "gbm"]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _planted(seed: int, n: int = 4000, noise_member: bool = False):
    rng = np.random.default_rng(seed)
    a, b, noise = rng.normal(size=(3, n))
    y = (rng.random(n) < _sigmoid(1.5 * a + 1.5 * b - 0.5)).astype(np.int8)
    if noise_member:
        return {"survival": _sigmoid(a + b), "gbm": _sigmoid(noise)}, y
    return {"survival": _sigmoid(a), "gbm": _sigmoid(b)}, y


def test_two_members_with_independent_signal_both_get_weight_and_the_stack_beats_each():
    scores, y = _planted(seed=11)
    model = fit_stack(scores, MEMBERS, y, "isotonic", seed=0)
    weights = model.weights_by_member()
    assert weights["survival"] > 0.3 and weights["gbm"] > 0.3
    # fresh clients from the same law: the stack fitted above, scored out of sample
    test_scores, y_test = _planted(seed=12)
    auc_stack = roc_auc_score(y_test, stack_score(model, test_scores))
    auc_members = [roc_auc_score(y_test, test_scores[n]) for n in MEMBERS]
    # one trait alone ranks at about 0.71, both together at about 0.82
    assert auc_stack > max(auc_members) + 0.05
    oof = stack_backtest_score(scores, MEMBERS, y, "isotonic", seed=0)
    assert roc_auc_score(y, oof) > max(roc_auc_score(y, scores[n]) for n in MEMBERS) + 0.05


def test_a_pure_noise_member_gets_a_weight_of_about_zero():
    scores, y = _planted(seed=13, noise_member=True)
    model = fit_stack(scores, MEMBERS, y, "isotonic", seed=0)
    weights = model.weights_by_member()
    assert weights["survival"] > 0.5
    # the weights act on calibrated logits: compare what each member moves the stack by
    spread = {n: np.std(logit(model.calibrators[n].transform(scores[n]))) for n in MEMBERS}
    assert weights["gbm"] * spread["gbm"] < 0.05 * weights["survival"] * spread["survival"]
    # and the stack ranks as the informative member alone does
    p = stack_score(model, scores)
    assert abs(roc_auc_score(y, p) - roc_auc_score(y, scores["survival"])) < 0.005


def test_weights_are_never_negative_even_for_an_inverted_member():
    rng = np.random.default_rng(14)
    a = rng.normal(size=3000)
    y = (rng.random(3000) < _sigmoid(2 * a)).astype(int)
    p = np.column_stack([_sigmoid(a), _sigmoid(-a)])  # the second ranks backwards
    _, weights = fit_weights(p, y)
    assert (weights >= 0).all()
    assert weights[1] < 1e-6 < weights[0]


def test_the_backtest_score_of_a_fold_never_sees_that_fold_labels():
    scores, y = _planted(seed=15, n=2000)
    fold_of = np.arange(len(y)) % 5
    base = stack_backtest_score(scores, MEMBERS, y, "isotonic", seed=0, fold_of=fold_of)
    # scramble the labels of fold 0: its scores must not move, the others' must
    test = np.flatnonzero(fold_of == 0)
    y_changed = y.copy()
    y_changed[test] = np.random.default_rng(0).integers(0, 2, size=len(test))
    changed = stack_backtest_score(scores, MEMBERS, y_changed, "isotonic", seed=0, fold_of=fold_of)
    assert np.array_equal(base[test], changed[test])
    others = fold_of != 0
    assert np.abs(base[others] - changed[others]).max() > 1e-3  # the labels are used
