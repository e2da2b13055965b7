"""The churn stage at bank scale: fit on a customer sample, score in chunks.

A simulated population (Pareto/NBD purchases, :func:`test_churn.btyd_population`) is run
past the scoring date, so every customer's true outcome in the horizon is known.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from churn.calibration import quantile_map, quantile_map_fitted
from churn.warning import strategic_by_cut, strategic_clients
from conftest import write_run_context
from features import customer_features
from kequn.errors import UserError
from kequn.rules import tier_cut
from test_churn import btyd_population
from test_churn_stage import stage_params

AS_OF = dt.date(2025, 6, 30)
HORIZON = 60  # stage_params' churn.horizon_days
N = 6000
TOP = 10  # clients with CLV 100
TIED = 2000  # the next clients, with CLV 3 each; everyone else has CLV 1


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Stage inputs as of AS_OF for N simulated customers, and who truly churned after it.

    Client types: the first 1,500 customers (by id) are all 对公, the rest alternate, so
    the first 997-row chunk lacks the reference level 个人. CLV: the first ``TOP`` customers
    hold 100 each, the next ``TIED`` 3 each and the others 1 each, so the strategic clients
    are a run of ties that spans several 997-row chunks.
    """
    from ltv import BetaGeoModel

    root = tmp_path_factory.mktemp("churn_scale")
    transactions = btyd_population(N, AS_OF + dt.timedelta(days=HORIZON), seed=5)
    dates = pd.to_datetime(transactions["date"])
    past = transactions.loc[dates <= pd.Timestamp(AS_OF)].reset_index(drop=True)
    returned = set(transactions.loc[dates > pd.Timestamp(AS_OF), "customer_id"])
    customers = customer_features(past, AS_OF, unit_days=7, trend_window_days=90)
    assert len(customers) == N and customers["customer_id"].is_monotonic_increasing
    kinds = np.where(np.arange(N) % 2 == 0, "个人", "对公")
    kinds[:1500] = "对公"
    customers["client_type"] = kinds
    churned = (~customers["customer_id"].isin(returned)).to_numpy().astype(int)
    clv = np.ones(N)
    clv[:TOP] = 100.0
    clv[TOP : TOP + TIED] = 3.0
    value = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "clv": clv,
            "value_percentile": np.linspace(0, 100, N),
        }
    )
    model = BetaGeoModel().fit(
        *(customers[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    )
    for folder in ("data/interim", "data/processed", "models"):
        (root / folder).mkdir(parents=True)
    past.to_parquet(root / "data/interim/transactions.parquet", index=False)
    customers.to_parquet(root / "data/processed/customers.parquet", index=False)
    value.to_parquet(root / "data/processed/ltv.parquet", index=False)
    write_run_context(root, AS_OF)
    (root / "models/transaction_model.json").write_text(model.to_json(), encoding="utf-8")
    return root, churned


def run_scaled(root: Path, monkeypatch, chunk: int, fit: int, **churn) -> tuple[pd.DataFrame, dict]:
    from churn.stage import run

    params = stage_params(**churn)
    params["scale"] = {"chunk_customers": chunk, "fit_customers": fit}
    monkeypatch.chdir(root)
    run(params)
    table = pd.read_parquet(root / "data/processed/churn.parquet")
    metrics = json.loads((root / "reports/metrics/churn.json").read_text(encoding="utf-8"))
    return table, metrics


@pytest.fixture(scope="module")
def full_fit(population) -> tuple[pd.DataFrame, dict]:
    """Everyone in the fit, one chunk (the reference run)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_scaled(population[0], monkeypatch, chunk=100_000, fit=0, model="gbm")


def test_chunks_of_997_give_the_same_table_and_counts(population, full_fit, monkeypatch):
    one_chunk, one_metrics = full_fit
    chunked, chunked_metrics = run_scaled(population[0], monkeypatch, 997, 0, model="gbm")
    pd.testing.assert_frame_equal(chunked, one_chunk, check_exact=True)
    assert chunked_metrics == one_metrics

    # the strategic cut by hand: total 10 x 100 + 2000 x 3 + 3990 x 1 = 10990; the CLV
    # above a client with 3 is 1000 (9.1% < 50%: every 3 is strategic, ties share the
    # flag), above a client with 1 it is 7000 (63.7%: not strategic). Rows 0..2009 span
    # three 997-row chunks.
    expected = np.zeros(N, dtype=bool)
    expected[: TOP + TIED] = True
    assert chunked["strategic_client"].to_numpy().tolist() == expected.tolist()
    assert chunked_metrics["strategic_clients"] == TOP + TIED
    assert chunked_metrics["customers"] == N == chunked_metrics["fit_customers"]
    assert sum(chunked_metrics["warning_levels"].values()) == N


def test_a_fit_sample_scores_close_to_the_full_fit(population, full_fit, monkeypatch):
    """fit_customers = N/3: the fit uses about N/3 customers and scores as well as the full fit.

    Tolerances: the hash sample's size is Binomial(N, 1/3), sd 37, so +-200 is over 5 sd.
    Against the simulated truth, the ROC AUC of a classifier trained on a third of the
    customers may lose a little (0.006 here) but not 0.02; the mean probability must match
    the true churn rate of the N customers (sampling sd sqrt(p(1-p)/N) = 0.004) plus the
    error of an isotonic map fitted on ~2,000 backtest rows (sd ~0.008): within 0.02 (> 2
    combined sd). The mean absolute change per customer stays under 0.05 (trees trained on
    a third of the rows: 0.03 here).
    """
    root, churned = population
    full, full_metrics = full_fit
    sampled, metrics = run_scaled(root, monkeypatch, 100_000, N // 3, model="gbm")
    assert abs(metrics["fit_customers"] - N / 3) < 200
    assert abs(metrics["backtest_customers"] - metrics["fit_customers"]) < 50
    assert metrics["customers"] == N == len(sampled)
    assert sampled["customer_id"].tolist() == full["customer_id"].tolist()
    p_full = full["churn_probability"].to_numpy()
    p_sample = sampled["churn_probability"].to_numpy()
    auc_full = roc_auc_score(churned, p_full)
    auc_sample = roc_auc_score(churned, p_sample)
    assert auc_full > 0.9  # the truth is learnable at all
    assert auc_sample > auc_full - 0.02
    assert abs(p_full.mean() - churned.mean()) < 0.02
    assert abs(p_sample.mean() - churned.mean()) < 0.02
    assert np.abs(p_sample - p_full).mean() < 0.05
    assert not np.array_equal(p_sample, p_full)  # a different fit really happened


def test_mismatched_ltv_ids_are_a_one_line_user_error(population, tmp_path, monkeypatch):
    from churn.stage import paired_chunks

    root, _ = population
    for folder in ("data/interim", "data/processed", "models"):
        (tmp_path / folder).mkdir(parents=True)
    for name in (
        "data/interim/transactions.parquet",
        "data/processed/customers.parquet",
        "data/processed/context.json",
    ):
        (tmp_path / name).write_bytes((root / name).read_bytes())
    value = pd.read_parquet(root / "data/processed/ltv.parquet")
    value.loc[1500, "customer_id"] = "zz-not-a-customer"
    value.to_parquet(tmp_path / "data/processed/ltv.parquet", index=False)

    # the fit sample (everyone) is checked before any model is fitted
    with pytest.raises(UserError) as error:
        run_scaled(tmp_path, monkeypatch, 997, 0)
    assert "ltv.parquet" in str(error.value) and "\n" not in str(error.value)
    # and every scored chunk: the second 997-row chunk holds row 1501
    chunks = paired_chunks(997, ["customer_id", "clv"])
    next(chunks)
    with pytest.raises(UserError, match=r"ltv\.parquet.*rows 998-1994"):
        next(chunks)
    # fewer ltv rows than customers: named before anything is read
    value.iloc[:-1].to_parquet(tmp_path / "data/processed/ltv.parquet", index=False)
    with pytest.raises(UserError, match=r"ltv\.parquet: 5999 rows"):
        run_scaled(tmp_path, monkeypatch, 997, 0)


def test_strategic_cut_applied_in_chunks_equals_the_whole_ranking():
    rng = np.random.default_rng(4)
    clv = pd.Series(np.r_[rng.choice([0.0, 1.0, 2.0, 5.0], 300), -1.0, np.nan])
    expected = strategic_clients(clv, 0.7)
    threshold = tier_cut(clv.to_numpy(dtype=float), 0.7)
    flags = [
        strategic_by_cut(clv.iloc[start : start + 37], threshold) for start in range(0, 303, 37)
    ]
    assert np.concatenate(flags).tolist() == expected.tolist()
    # by hand: the value above a 2 is under 70% of the positive total, above a 1 it is not,
    # so every 5 and every 2 (a run of ties across chunks) is strategic
    value = clv.fillna(0).clip(lower=0).to_numpy()
    above = {v: value[value > v].sum() / value.sum() for v in (2.0, 1.0)}
    assert above[2.0] < 0.7 <= above[1.0] and threshold == 2.0
    assert expected.tolist() == (value >= 2.0).tolist()
    assert tier_cut(np.array([0.0, -2.0]), 0.5) == float("inf")


def test_fitted_quantile_map_on_the_sample_and_between_its_points():
    rng = np.random.default_rng(9)
    score = np.round(rng.uniform(size=500), 2)  # many ties
    reference = rng.beta(2, 5, size=500)
    fitted = quantile_map_fitted(score, np.sort(score), np.sort(reference))
    assert np.array_equal(fitted, quantile_map(score, reference))
    # a new score between the sample's k-th and (k+1)-th smallest (no ties): rank k + 1/2
    sample = np.array([0.1, 0.2, 0.4, 0.8])
    ref = np.array([0.0, 0.3, 0.6, 0.9])
    assert quantile_map_fitted(np.array([0.3]), sample, ref)[0] == pytest.approx(0.45)
    assert rankdata([0.1, 0.2, 0.2])[1] == 2.5  # the convention reproduced above
