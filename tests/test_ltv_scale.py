"""The ltv stage at bank scale: chunked scoring, fits on distinct-history counts, the fit sample."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ltv import BetaGeoModel, ParetoNBDModel, load_model
from ltv.scale import count_histories, ranked_query
from ltv.stage import run
from test_ltv_stage import make_params, write_inputs

N_CUSTOMERS = 2500


def run_in(workdir: Path, scale: dict) -> dict:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        run({**make_params(interval_draws=20), "scale": scale})
    return json.loads((workdir / "reports/metrics/ltv.json").read_text())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Simulated transactions and customers.parquet with its rows shuffled (not in id order)."""
    workdir = tmp_path_factory.mktemp("ltv_scale_inputs")
    customers = write_inputs(workdir, n_customers=N_CUSTOMERS)
    shuffled = customers.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled.to_parquet(workdir / "data/processed/customers.parquet", index=False)
    return workdir, shuffled


def copy_inputs(source: Path, target: Path) -> Path:
    for name in (
        "data/interim/transactions.parquet",
        "data/processed/customers.parquet",
        "data/processed/context.json",
    ):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes((source / name).read_bytes())
    return target


@pytest.fixture(scope="module")
def one_chunk(inputs, tmp_path_factory) -> tuple[Path, dict]:
    workdir = copy_inputs(inputs[0], tmp_path_factory.mktemp("ltv_one_chunk"))
    return workdir, run_in(workdir, {"chunk_customers": 10**6, "fit_customers": 0})


def test_chunks_of_997_write_the_same_table_as_one_chunk(inputs, one_chunk, tmp_path):
    whole_dir, whole_metrics = one_chunk
    workdir = copy_inputs(inputs[0], tmp_path)
    metrics = run_in(workdir, {"chunk_customers": 997, "fit_customers": 0})
    whole = pd.read_parquet(whole_dir / "data/processed/ltv.parquet")
    chunked = pd.read_parquet(workdir / "data/processed/ltv.parquet")
    assert len(whole) == N_CUSTOMERS > 2 * 997
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    # rows in customer_id order although customers.parquet is shuffled
    assert chunked["customer_id"].tolist() == sorted(inputs[1]["customer_id"])
    # same fitted models; the totals agree up to the order of summation
    for name in ("models/transaction_model.json", "models/spend_model.json"):
        assert (workdir / name).read_bytes() == (whole_dir / name).read_bytes()
    for key, value in whole_metrics["scores"].items():
        assert metrics["scores"][key] == pytest.approx(value, rel=1e-12)
    # value_percentile recomputed from clv with pandas' rank (ties share the lowest rank)
    expected = (chunked["clv"].rank(method="min") - 1) / (len(chunked) - 1) * 100
    assert chunked["value_percentile"].to_numpy() == pytest.approx(expected.to_numpy(), abs=0)


def test_percentile_sql_gives_ties_their_lowest_rank_and_nan_stays_nan(tmp_path):
    clv = [5.0, -0.0, 3.0, 3.0, float("nan"), 0.0]
    scored = pd.DataFrame(
        {
            "customer_id": ["e", "d", "c", "b", "a", "f"],
            "clv": clv,
            "_row": np.arange(6),
            "_rank_key": np.asarray(clv) + 0.0,
        }
    )
    scored.to_parquet(tmp_path / "scored.parquet", index=False)
    got = duckdb.sql(ranked_query(tmp_path / "scored.parquet", ["customer_id", "clv"], 6)).df()
    assert got["customer_id"].tolist() == ["a", "b", "c", "d", "e", "f"]
    # by hand, n = 6 (NaN counts in n): 0.0 and -0.0 tie at rank 1, the 3.0s at 3, 5.0 at 5
    assert np.isnan(got["value_percentile"].iloc[0])
    assert got["value_percentile"].iloc[1:].tolist() == [40.0, 40.0, 0.0, 80.0, 0.0]


def test_fit_on_counts_accumulated_over_chunks_equals_fit_on_all_rows(inputs):
    customers = inputs[1]
    chunks = [customers.iloc[i : i + 997] for i in range(0, len(customers), 997)]
    counts = count_histories(chunks)
    # the counts against an independent group-by of all rows
    expected = customers.groupby(["frequency", "recency", "T"]).size()
    assert len(counts.weights) == len(expected) < len(customers)
    index = pd.MultiIndex.from_arrays([counts.x, counts.t_x, counts.T])
    got = pd.Series(counts.weights, index=index)
    assert got.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy(), abs=0)
    for cls in (BetaGeoModel, ParetoNBDModel):
        on_rows = cls().fit(customers["frequency"], customers["recency"], customers["T"])
        on_counts = cls().fit(counts.x, counts.t_x, counts.T, weights=counts.weights)
        for name, value in on_rows.params_.items():
            assert on_counts.params_[name] == pytest.approx(value, rel=1e-8)
        assert on_counts.n_customers_ == len(customers)


def test_fit_sample_backtests_about_that_many_customers_and_fits_stay_close(
    inputs, one_chunk, tmp_path
):
    whole_dir, whole = one_chunk
    workdir = copy_inputs(inputs[0], tmp_path)
    fit_customers = N_CUSTOMERS // 2
    metrics = run_in(workdir, {"chunk_customers": 997, "fit_customers": fit_customers})
    sample = metrics["sample"]
    assert sample["everyone"] is False and whole["sample"]["everyone"] is True
    # a hash sample with p = 1/2: binomial sd = sqrt(2500 / 4) = 25; allow 4 sd
    assert abs(sample["sampled_customers"] - fit_customers) <= 100
    # the backtest runs on the sampled customers with history before the cut-off: the same
    # share of them as in the full run, up to sampling noise (4 sd of a binomial on 1250)
    full_share = whole["sample"]["backtest_customers"] / N_CUSTOMERS
    assert sample["backtest_customers"] <= sample["sampled_customers"]
    assert sample["backtest_customers"] == pytest.approx(
        sample["sampled_customers"] * full_share, abs=4 * np.sqrt(fit_customers * 0.25)
    )
    for candidate in ("bgnbd", "pareto_nbd", "mbgnbd", "gbm"):
        assert metrics["backtest"][candidate]["customers"] == sample["backtest_customers"]
    # the transaction model is fitted on every customer's history either way: identical
    tm = metrics["choice"]["transaction_model"]
    if tm == whole["choice"]["transaction_model"]:
        assert metrics["scoring_fits"][tm] == whole["scoring_fits"][tm]
    assert metrics["scoring_fits"][tm]["n_customers"] == N_CUSTOMERS
    # Gamma-Gamma on the sample's repeat customers: within 4 standard errors of the sample
    # fit (log scale) of the fit on all repeat customers; the sample is nested in everyone,
    # so the difference has a variance below the sample fit's own
    assert sample["spend_customers"] < whole["sample"]["spend_customers"]
    on_sample = load_model(workdir / "models/spend_model.json")
    on_all = load_model(whole_dir / "models/spend_model.json")
    se = np.sqrt(np.diag(on_sample.params_cov_))
    gap = np.abs(np.log(on_sample.theta_) - np.log(on_all.theta_))
    assert np.all(gap <= 4 * se), (gap, se)
    assert not np.allclose(on_sample.theta_, on_all.theta_, rtol=1e-6)
