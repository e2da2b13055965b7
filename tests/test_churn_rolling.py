"""Rolling-origin backtest, refusal of degenerate BTYD fits, and the stacked classifier.

Data: the Pareto/NBD population of tests/test_churn.py (known generative truth: gamma
purchase rates, exponential lifetimes), where BG/NBD fits and converges.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from churn.candidates import BTYD_COLUMNS, degenerate_reason
from churn.rolling import choose, comparable, origin_cutoffs, summarise
from churn.scoring import score_churn
from features import customer_features
from ltv import BetaGeoModel
from test_churn import btyd_population, params

AS_OF = dt.date(2025, 12, 31)
H = 60


@pytest.fixture(scope="module")
def population():
    transactions = btyd_population(1500, AS_OF, seed=11)
    customers = customer_features(transactions, AS_OF, unit_days=7, trend_window_days=90)
    return transactions, customers


def _rfm(customers):
    return [customers[c].to_numpy(float) for c in ("frequency", "recency", "T")]


class NeverConverges(BetaGeoModel):
    """BG/NBD whose optimiser reports failure (as the CDNOW Pareto/NBD fit did)."""

    def fit(self, *args, **kwargs):
        super().fit(*args, **kwargs)
        self.converged_ = False
        return self


def test_cutoffs_step_back_from_as_of_minus_horizon():
    # the fourth cut-off (2025-01-02) is not after the first transaction day: left out
    cuts = origin_cutoffs(AS_OF, 90, 4, 91, dt.date(2025, 1, 2))
    assert cuts == [dt.date(2025, 10, 2), dt.date(2025, 7, 3), dt.date(2025, 4, 3)]


def test_choice_is_on_the_mean_over_cutoffs_not_the_latest():
    def entry(aucs):
        a = np.array(aucs)
        stats = {"mean": a.mean(), "std": a.std(), "min": a.min(), "max": a.max()}
        return {"origins": len(a), "roc_auc": stats, "pr_auc": stats, "brier": stats}

    # gbm wins the latest cut-off, survival the mean over three
    summary = {"survival": entry([0.70, 0.80, 0.80]), "gbm": entry([0.72, 0.70, 0.70])}
    chosen, why = choose(summary, 3)
    assert chosen == "survival" and "3 backtest cut-off" in why
    # candidates that score now compete on the cut-offs where all of them were scored
    per_origin = [
        {"survival": {"raw": {"roc_auc": 0.7}}, "btyd": {"raw": {"roc_auc": 0.8}}},
        {"survival": {"raw": {"roc_auc": 0.7}}},  # btyd refused at this old cut-off
        {"survival": {"raw": {"roc_auc": 0.6}}, "btyd": {"raw": {"roc_auc": 0.9}}},
    ]
    used, compared = comparable(per_origin)
    assert used == [0, 2] and all(set(m) == {"survival", "btyd"} for m in compared)


def test_non_converged_fit_is_refused_and_said_so(population):
    transactions, customers = population
    model = NeverConverges().fit(*_rfm(customers))
    assert degenerate_reason(model, customers).startswith("the fit did not converge")
    result = score_churn(transactions, customers, None, AS_OF, params(H), model)
    metrics = result.metrics
    assert metrics["chosen"] != "btyd"
    assert "btyd" not in metrics["backtest"]
    refused = metrics["refused"]["btyd"]
    assert len(refused) == len(metrics["rolling_backtest"]["cutoffs"]) >= 2
    assert all("did not converge" in r for r in refused)
    assert any(d.startswith("btyd_degenerate") for d in metrics["degraded"])
    json.dumps(metrics, allow_nan=False)


def test_constant_p_alive_is_degenerate(population):
    _, customers = population
    model = BetaGeoModel().fit(*_rfm(customers))
    assert degenerate_reason(model, customers) is None  # the planted dropout is found
    model.params_ = {**model.params_, "a": 1e-5, "b": 1e3}  # dropout probability ~ 0
    assert "P(alive) nearly constant" in degenerate_reason(model, customers)


def test_stacked_choice_uses_several_cutoffs_and_never_ranks_below_a_candidate(population):
    transactions, customers = population
    model = BetaGeoModel().fit(*_rfm(customers))
    result = score_churn(transactions, customers, None, AS_OF, params(H), model)
    rolling = result.metrics["rolling_backtest"]
    cutoffs = [c["features_as_of"] for c in rolling["cutoffs"]]
    assert cutoffs == ["2025-11-01", "2025-08-02", "2025-05-03"]
    summary = rolling["summary"]
    assert set(summary) == {"btyd", "btyd_expected", "survival", "gbm", "blend", "stack"}
    assert all(m["origins"] == 3 for m in summary.values())
    best = max(m["roc_auc"]["mean"] for m in summary.values())
    assert summary[result.metrics["chosen"]]["roc_auc"]["mean"] == best
    # the planted truth is Pareto/NBD-like: every candidate ranks far better than chance
    assert min(m["roc_auc"]["mean"] for m in summary.values()) > 0.7


def test_classifier_is_stacked_on_the_btyd_outputs(population):
    from churn.scoring import fit_churn

    transactions, customers = population
    model = BetaGeoModel().fit(*_rfm(customers))
    fit = fit_churn(transactions, customers, None, AS_OF, params(H, model="gbm"), model)
    assert fit.chosen == "gbm"
    assert set(BTYD_COLUMNS) <= set(fit.classifier.columns_)
    importance = fit.classifier.model_  # the trees do split on the BTYD columns
    used = {
        fit.classifier.columns_[f]
        for predictor in importance._predictors
        for tree in predictor
        for f in tree.nodes["feature_idx"][~tree.nodes["is_leaf"].astype(bool)]
    }
    assert used & set(BTYD_COLUMNS)


def _summary(mean: float, se: float, origins: int = 2) -> dict:
    stats = {"mean": mean, "std": 0.01, "min": mean, "max": mean}
    return {
        "origins": origins,
        "roc_auc": stats | {"se": se},
        "pr_auc": stats,
        "brier": stats,
    }


def test_blend_within_one_standard_error_of_the_best_is_chosen():
    # btyd_expected leads the blend by 0.0016, less than the best mean's error of 0.003
    summary = {"btyd_expected": _summary(0.7361, 0.003), "blend": _summary(0.7345, 0.003)}
    chosen, why = choose(summary, 2)
    assert chosen == "blend" and "within one standard error (0.0030)" in why
    # a lead of more than one standard error keeps the single candidate
    summary["btyd_expected"] = _summary(0.7400, 0.003)
    chosen, why = choose(summary, 2)
    assert chosen == "btyd_expected" and "more than one standard error" in why
    # the rule only moves towards the blend: without one, the best single is chosen
    del summary["blend"]
    assert choose(summary, 2)[0] == "btyd_expected"
    # a blend that did not score every cut-off does not compete
    summary["blend"] = _summary(0.7399, 0.003, origins=1)
    assert choose(summary, 2)[0] == "btyd_expected"


def test_summary_standard_error_is_the_delong_error_of_the_mean():
    per_origin = [
        {"blend": {"raw": {"roc_auc": a, "pr_auc": a, "roc_auc_var": v}, "calibrated": {}}}
        for a, v in ((0.70, 4e-6), (0.74, 5e-6))
    ]
    for m in per_origin:
        m["blend"]["calibrated"]["brier"] = 0.1
    se = summarise(per_origin)["blend"]["roc_auc"]["se"]
    assert se == pytest.approx(np.sqrt(9e-6) / 2)


def test_backtest_frees_each_cutoffs_tables_and_scores_as_if_it_kept_them(population, monkeypatch):
    from features import CutoffTables

    transactions, customers = population
    model = BetaGeoModel().fit(*_rfm(customers))
    held, built = [], []
    split = CutoffTables.split

    def spied(self, cutoff, end):
        out = split(self, cutoff, end)
        held.append(len(self.held))
        built.append(self.built)
        return out

    monkeypatch.setattr(CutoffTables, "split", spied)
    freed = score_churn(transactions, customers, None, AS_OF, params(H), model).metrics
    # three origins, each with its own table and its classifier's training table (step 91
    # days against a 60-day horizon: no two origins share one): six built, each once, and
    # never more than one origin's two tables held at a time
    assert built[-1] == 6
    assert max(held) == 2
    monkeypatch.setattr(CutoffTables, "release", lambda self, cutoff, end: None)
    held.clear()
    kept = score_churn(transactions, customers, None, AS_OF, params(H), model).metrics
    assert max(held) == 6  # without the release every table stays
    assert json.dumps(freed, sort_keys=True) == json.dumps(kept, sort_keys=True)
