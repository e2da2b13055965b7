"""The ltv stage end to end on simulated transactions, and its pure helpers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_run_context
from features import customer_features
from kequn.errors import UserError
from ltv import load_model
from ltv.stage import customer_margin, read_settings, run, value_percentile
from test_ltv_backtest import simulate_bgnbd_transactions

AS_OF = dt.date(2023, 12, 31)
HOLDOUT = 182
OUTPUTS = [
    "data/processed/ltv.parquet",
    "models/transaction_model.json",
    "models/spend_model.json",
    "reports/metrics/ltv.json",
    "reports/plots/ltv_calibration.csv",
    "reports/plots/ltv_deciles.csv",
    "reports/plots/ltv_gain.csv",
]


def make_params(**ltv: object) -> dict:
    settings = {
        "model": "auto",
        "holdout_days": HOLDOUT,
        "horizon_months": 12,
        "discount_rate": 0.01,
        "margin": {"deposit": 0.01, "loan": 0.03},
        "service_cost_per_transaction": 0.5,
        "acquisition_cost": 1.0,
        "penalizer": 0.0,
        "interval": [0.1, 0.9],
        "interval_draws": 50,
    }
    settings.update(ltv)
    return {
        "as_of": AS_OF.isoformat(),
        "seed": 7,
        "features": {"time_unit_days": 7, "trend_window_days": 90},
        "ltv": settings,
    }


def write_inputs(workdir: Path, n_customers: int = 800) -> pd.DataFrame:
    tx = simulate_bgnbd_transactions(
        n_customers, start=dt.date(2022, 1, 1), birth_weeks=26, end=AS_OF, seed=21
    )
    # a transaction after as_of must never be read
    late = pd.DataFrame(
        {
            "customer_id": ["C00000"],
            "date": [AS_OF + dt.timedelta(days=5)],
            "amount": [1e6],
            "product": ["loan"],
            "channel": ["app"],
        }
    )
    (workdir / "data" / "interim").mkdir(parents=True)
    (workdir / "data" / "processed").mkdir(parents=True)
    pd.concat([tx, late], ignore_index=True).to_parquet(
        workdir / "data/interim/transactions.parquet", index=False
    )
    customers = customer_features(tx, AS_OF, unit_days=7, trend_window_days=90)
    customers.to_parquet(workdir / "data/processed/customers.parquet", index=False)
    write_run_context(workdir, AS_OF)
    return customers


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ltv_auto")
    customers = write_inputs(workdir)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        run(make_params())
    return workdir, customers


def test_stage_writes_complete_consistent_scores(auto_run):
    workdir, customers = auto_run
    table = pd.read_parquet(workdir / "data/processed/ltv.parquet")
    assert table.columns.tolist() == [
        "customer_id",
        "expected_transactions",
        "probability_alive",
        "expected_value_per_transaction",
        "clv",
        "clv_low",
        "clv_high",
        "revenue_contribution",
        "profit_contribution",
        "margin",
        "value_percentile",
        "model",
    ]
    assert sorted(table["customer_id"]) == sorted(customers["customer_id"])
    assert not table.isna().any().any()
    assert (table["clv_low"] <= table["clv"] + 1e-9).all()
    assert (table["clv"] <= table["clv_high"] + 1e-9).all()
    assert table["probability_alive"].between(0, 1).all()
    assert table["value_percentile"].between(0, 100).all()
    assert table["profit_contribution"].to_numpy() == pytest.approx(table["clv"] - 1.0)
    # customers without usable spend history get E[z] = p v / (q - 1) of the spend model
    spend = json.loads((workdir / "models/spend_model.json").read_text())
    p, q, v = (load_model(workdir / "models/spend_model.json").params_[k] for k in "pqv")
    assert spend["model"] == "gamma_gamma"
    no_repeat = table["customer_id"].isin(customers.loc[customers["frequency"] == 0, "customer_id"])
    assert no_repeat.any()
    assert table.loc[no_repeat, "expected_value_per_transaction"].to_numpy() == pytest.approx(
        p * v / (q - 1)
    )


def test_metrics_json_has_every_candidate_and_baseline(auto_run):
    workdir, _ = auto_run
    metrics = json.loads((workdir / "reports/metrics/ltv.json").read_text())
    assert set(metrics["backtest"]) == {"bgnbd", "pareto_nbd", "mbgnbd", "gbm", "gbm_stacked"}
    assert metrics["skipped"] == {}
    assert metrics["backtest_cutoff"] == (AS_OF - dt.timedelta(days=HOLDOUT)).isoformat()
    chosen = metrics["model"]
    assert chosen in metrics["backtest"]
    # chosen on the mean over the comparable rolling cut-offs
    rolling = {k: v for k, v in metrics["rolling"].items() if k in metrics["backtest"]}
    best_mae = min(m["mae_value"]["mean"] for m in rolling.values())
    assert rolling[chosen]["mae_value"]["mean"] == best_mae
    assert rolling[chosen]["origins"] == len(metrics["choice"]["cutoffs"])
    assert metrics["baselines"]["past_value_repeats"]["mae_value"] > 0
    assert metrics["baselines"]["best_probabilistic"]["model"] in ("bgnbd", "pareto_nbd", "mbgnbd")
    for name in ("bgnbd", "pareto_nbd", "mbgnbd"):
        assert {"params", "log_likelihood", "aic", "bic"} <= set(metrics["backtest_fits"][name])
    # the transaction model file is the best probabilistic model
    saved = load_model(workdir / "models/transaction_model.json")
    tm = metrics["choice"]["transaction_model"]
    assert set(saved.params_) == set(metrics["scoring_fits"][tm]["params"])
    # the decile table adds up to the backtest's actual holdout value
    deciles = pd.read_csv(workdir / "reports/plots/ltv_deciles.csv")
    assert deciles.columns.tolist() == ["decile", "actual", "predicted"]
    assert deciles["actual"].sum() == pytest.approx(metrics["backtest"][chosen]["actual_value"])
    calibration = pd.read_csv(workdir / "reports/plots/ltv_calibration.csv")
    assert calibration.columns.tolist() == ["frequency", "actual", "predicted"]
    assert calibration["frequency"].tolist() == list(range(8))
    gain = pd.read_csv(workdir / "reports/plots/ltv_gain.csv")
    assert gain["model"].iloc[-1] == pytest.approx(1.0)
    assert gain["model"].iloc[0] == 0.0


def test_gbm_scores_without_its_scoring_window_and_reruns_identically(tmp_path, monkeypatch):
    write_inputs(tmp_path, n_customers=500)
    monkeypatch.chdir(tmp_path)
    run(make_params(model="gbm", margin=0.02))
    first = {path: Path(path).read_bytes() for path in OUTPUTS}
    metrics = json.loads(first["reports/metrics/ltv.json"])
    gbm = metrics["scoring_fits"]["gbm"]
    # trained on features as of as_of - H with the target (as_of - H, as_of]; scored as of as_of
    assert gbm["train_features_as_of"] == (AS_OF - dt.timedelta(days=HOLDOUT)).isoformat()
    assert gbm["train_target_end"] == AS_OF.isoformat()
    assert gbm["scored_features_as_of"] == AS_OF.isoformat()
    table = pd.read_parquet("data/processed/ltv.parquet")
    assert (table["model"] == "gbm").all()
    assert (table["clv_low"] <= table["clv"] + 1e-9).all()
    assert (table["clv"] <= table["clv_high"] + 1e-9).all()
    # the churn stage still gets a probabilistic transaction model
    assert load_model("models/transaction_model.json").params_
    run(make_params(model="gbm", margin=0.02))
    assert {path: Path(path).read_bytes() for path in OUTPUTS} == first


def test_short_history_records_skips_and_still_scores(tmp_path, monkeypatch):
    write_inputs(tmp_path, n_customers=300)
    monkeypatch.chdir(tmp_path)
    run(make_params(holdout_days=1000))
    metrics = json.loads(Path("reports/metrics/ltv.json").read_text())
    assert set(metrics["skipped"]) == {"bgnbd", "pareto_nbd", "mbgnbd", "gbm", "gbm_stacked"}
    assert metrics["model"] == "bgnbd" and metrics["backtest"] == {}
    table = pd.read_parquet("data/processed/ltv.parquet")
    assert len(table) > 0 and not table.isna().any().any()
    with pytest.raises(UserError, match="ltv.model=gbm"):
        run(make_params(holdout_days=1000, model="gbm"))


def test_customer_margin_by_product_line():
    customers = pd.DataFrame(
        {
            "share_product_deposit": [1.0, 0.5, 0.0, 0.2],
            "share_product_loan": [0.0, 0.5, 0.0, 0.0],
            "share_product_fee": [0.0, 0.0, 0.0, 0.8],
        }
    )
    margins = {"deposit": 0.01, "loan": 0.03}
    got = customer_margin(customers, margins)
    # row 3: no share -> mean 0.02; row 4: fee has no margin -> counts at the mean 0.02
    assert got == pytest.approx([0.01, 0.02, 0.02, 0.2 * 0.01 + 0.8 * 0.02])
    assert customer_margin(customers, 0.05) == pytest.approx([0.05] * 4)


def test_value_percentile_and_settings_errors():
    assert value_percentile([5.0, 1.0, 3.0, 3.0]).tolist() == pytest.approx(
        [100.0, 0.0, 100 / 3, 100 / 3]
    )
    with pytest.raises(UserError, match="ltv.model"):
        read_settings(make_params(model="xgboost"))
    with pytest.raises(UserError, match="ltv.interval"):
        read_settings(make_params(interval=[0.9, 0.1]))
    with pytest.raises(UserError, match="ltv.margin.loan"):
        read_settings(make_params(margin={"loan": "high"}))
    assert read_settings(make_params())["margin"] == {"deposit": 0.01, "loan": 0.03}


def test_bad_memory_limit_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEQUN_LTV_MEMORY_LIMIT", "lots")
    # checked first: reported even before the missing inputs are
    with pytest.raises(UserError, match="KEQUN_LTV_MEMORY_LIMIT='lots' must look like 1GB"):
        run(make_params())
    write_inputs(tmp_path, n_customers=300)
    monkeypatch.setenv("KEQUN_LTV_MEMORY_LIMIT", " 256 MiB ")
    run(make_params())
    assert Path("data/processed/ltv.parquet").exists()
