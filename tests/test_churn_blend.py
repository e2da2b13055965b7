"""The blend candidate (mean of the calibrated probabilities of the single candidates) and
the ``btyd_expected`` candidate (rank by the BTYD expected transactions in the horizon).

The blend test plants the truth: churn depends on two independent client traits ``a`` and
``b``; one candidate sees only ``a``, the other only ``b``. Then neither candidate
dominates and the blend must win the rolling choice. Where one candidate sees both traits
and the other sees noise, that candidate must be chosen and the blend must lose to it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy.stats import spearmanr

from churn.model import candidate_score, model_scores
from churn.rolling import Origin, add_blend, choose, comparable, origin_metrics, summarise
from churn.scoring import fit_churn, score_customers
from churn.settings import read_settings
from churn.stack import logit, stack_score
from ltv import BetaGeoModel
from test_churn import params
from test_churn_rolling import AS_OF, H, _rfm, population  # noqa: F401 (fixture)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _origins(seed: int, split: bool, n: int = 4000, cutoffs: int = 3) -> list[Origin]:
    """Cut-offs with planted labels; ``split``: each candidate sees half the signal."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(cutoffs):
        a, b, noise = rng.normal(size=(3, n))
        y = (rng.random(n) < _sigmoid(1.5 * a + 1.5 * b - 0.5)).astype(np.int8)
        scores = (
            {"survival": _sigmoid(a), "gbm": _sigmoid(b)}
            if split
            else {"survival": _sigmoid(a + b), "gbm": _sigmoid(noise)}
        )
        out.append(
            Origin(
                cutoff=dt.date(2025, 10, 1) - dt.timedelta(days=91 * k),
                horizon_days=H,
                y=y,
                scores=scores,
            )
        )
    return out


def _choice(origins):
    s = read_settings(params(H))
    for origin in origins:
        add_blend(origin, s)
    per_origin = [origin_metrics(o, s) for o in origins]
    used, compared = comparable(per_origin)
    summary = summarise(compared)
    return choose(summary, len(used))[0], summary


def test_blend_and_stack_win_when_two_candidates_each_carry_half_the_signal():
    chosen, summary = _choice(_origins(seed=3, split=True))
    # the stack learns the weights the blend fixes at 1/K: it ranks at least as well, but
    # by less than one standard error, so the blend is kept (churn.rolling.choose)
    assert chosen == "blend"
    auc = {n: m["roc_auc"]["mean"] for n, m in summary.items()}
    assert auc["blend"] - 0.002 <= auc["stack"] <= auc["blend"] + summary["stack"]["roc_auc"]["se"]
    # one trait alone ranks at about 0.71; both together at about 0.82
    assert auc["blend"] > max(auc["survival"], auc["gbm"]) + 0.05
    assert summary["blend"]["roc_auc"]["min"] > max(
        summary[n]["roc_auc"]["max"] for n in ("survival", "gbm")
    )


def test_the_clearly_best_candidate_is_chosen_over_the_blend():
    chosen, summary = _choice(_origins(seed=4, split=False))
    assert chosen == "survival"
    auc = {n: m["roc_auc"]["mean"] for n, m in summary.items()}
    assert abs(auc["gbm"] - 0.5) < 0.03  # the noise candidate finds nothing
    assert auc["blend"] < auc["survival"]


def test_no_blend_with_a_single_candidate():
    origin = _origins(seed=5, split=True, cutoffs=1)[0]
    del origin.scores["gbm"]
    add_blend(origin, read_settings(params(H)))
    assert "blend" not in origin.scores


@pytest.fixture(scope="module")
def btyd_fit(population):  # noqa: F811
    transactions, customers = population
    model = BetaGeoModel().fit(*_rfm(customers))
    return transactions, customers, model


def test_btyd_expected_ranks_by_the_expected_transactions(btyd_fit):
    transactions, customers, model = btyd_fit
    fit = fit_churn(transactions, customers, None, AS_OF, params(H, model="btyd_expected"), model)
    assert fit.chosen == "btyd_expected"
    p = score_customers(fit, customers).table["churn_probability"].to_numpy()
    expected = model.expected_transactions(H / 7, *_rfm(customers))
    # the calibration is monotone: fewer expected purchases, never a lower churn probability
    order = np.argsort(expected, kind="mergesort")
    assert (np.diff(p[order]) <= 1e-9).all()
    assert spearmanr(p, -expected).statistic > 0.9  # ties only where calibration is flat
    assert 0 <= p.min() and p.max() <= 1


def test_blend_as_of_averages_the_members_calibrated_probabilities(btyd_fit):
    transactions, customers, model = btyd_fit
    fit = fit_churn(transactions, customers, None, AS_OF, params(H, model="blend"), model)
    assert fit.chosen == "blend"
    assert set(fit.blend) == {"btyd", "btyd_expected", "survival", "gbm"}
    table = score_customers(fit, customers).table
    p = table["churn_probability"].to_numpy()
    assert 0 <= p.min() and p.max() <= 1
    # the raw blend lies inside the range of its members' calibrated probabilities
    survival_now, _, _, _ = model_scores(fit, customers, btyd=False)
    members = np.array(
        [
            fit.blend[n].transform(candidate_score(fit, n, customers, survival_now, None))
            for n in fit.blend
        ]
    )
    raw = table["raw_score"].to_numpy()
    assert (raw >= members.min(axis=0) - 1e-6).all() and (raw <= members.max(axis=0) + 1e-6).all()
    assert np.allclose(raw, members.mean(axis=0), atol=1e-6)
    assert fit.metrics["rolling_backtest"]["summary"]["blend"]["origins"] >= 2


def test_stack_as_of_combines_the_members_with_non_negative_weights(btyd_fit):
    transactions, customers, model = btyd_fit
    fit = fit_churn(transactions, customers, None, AS_OF, params(H, model="stack"), model)
    assert fit.chosen == "stack"
    assert set(fit.stack.calibrators) == {"btyd", "btyd_expected", "survival", "gbm"}
    assert (fit.stack.weights >= 0).all() and fit.stack.weights.sum() > 0
    table = score_customers(fit, customers).table
    survival_now, _, _, _ = model_scores(fit, customers, btyd=False)
    members = {
        n: candidate_score(fit, n, customers, survival_now, None) for n in fit.stack.calibrators
    }
    raw = table["raw_score"].to_numpy()
    assert np.allclose(raw, stack_score(fit.stack, members), atol=1e-6)
    assert fit.metrics["rolling_backtest"]["summary"]["stack"]["origins"] >= 2
    # churn.json's stack weights are the ones scored with: p = sigma(b + sum_k w_k logit p_k)
    written = fit.metrics["stack"]
    eta = written["intercept"] + sum(
        w * logit(fit.stack.calibrators[n].transform(members[n]))
        for n, w in written["weights"].items()
    )
    assert np.allclose(raw, 1 / (1 + np.exp(-eta)), atol=1e-6)
