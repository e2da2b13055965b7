"""``python -m kequn segment`` on small synthetic inputs: reruns, history and migration."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import yaml

from conftest import REPO_ROOT, run_stage
from features import customer_features
from segmentation.migration import historic_values


def _transactions(n_customers: int = 240, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = rng.poisson(6, n_customers) + 1
    customer = np.repeat([f"K{i:04d}" for i in range(n_customers)], rows)
    n = len(customer)
    start = dt.date(2024, 1, 1)
    days = rng.integers(0, 365, n)
    return pd.DataFrame(
        {
            "customer_id": customer,
            "date": [start + dt.timedelta(days=int(d)) for d in days],
            "amount": np.round(rng.lognormal(5, 1, n), 2),
            "product": rng.choice(["存款", "贷款", "理财"], n, p=[0.6, 0.3, 0.1]),
            "channel": rng.choice(["手机银行", "柜面"], n),
            "txn_id": [f"T{i:06d}" for i in range(n)],
        }
    ).sort_values(["customer_id", "date"], ignore_index=True)


def _write_inputs(workdir, transactions: pd.DataFrame, as_of: dt.date) -> None:
    for folder in ["data/interim", "data/processed"]:
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    transactions.to_parquet(workdir / "data/interim/transactions.parquet", index=False)
    customers = customer_features(transactions, as_of)
    customers.to_parquet(workdir / "data/processed/customers.parquet", index=False)
    ids = customers["customer_id"]
    pd.DataFrame({"customer_id": ids, "clv": customers["total_value"] * 0.1}).to_parquet(
        workdir / "data/processed/ltv.parquet", index=False
    )
    churn = np.clip(customers["days_since_last"] / 200, 0, 1)
    pd.DataFrame({"customer_id": ids, "churn_probability": churn}).to_parquet(
        workdir / "data/processed/churn.parquet", index=False
    )
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["as_of"] = as_of.isoformat()
    # the later run scores at month end, a day after the last generated transaction
    params["allow_as_of_after_data"] = True
    params["segmentation"]["k_range"] = [3, 4]
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))


def test_historic_values_equal_the_feature_tables_total_value(tmp_path):
    transactions = _transactions(n_customers=120, seed=9)
    transactions.loc[:5, "amount"] *= -1  # refunds net out, as in the feature table
    path = tmp_path / "transactions.parquet"
    transactions.to_parquet(path, index=False)
    date = dt.date(2024, 3, 15)  # customers without a row on or before it are left out
    want = customer_features(transactions, date)[["customer_id", "total_value"]]
    assert len(want) < transactions["customer_id"].nunique()
    for source in (transactions, path):
        got = historic_values(source, date)
        assert got["customer_id"].tolist() == want["customer_id"].tolist()
        assert (got["total_value"].to_numpy() == want["total_value"].to_numpy()).all()


OUTPUTS = [
    "data/processed/segments.parquet",
    "reports/metrics/segments.json",
    "reports/plots/pareto.csv",
    "reports/plots/cluster_profiles.csv",
    "models/clusters.json",
]


def test_stage_reruns_identically_and_tracks_migration(tmp_path):
    transactions = _transactions()
    first_as_of = dt.date(2024, 9, 30)
    twin = tmp_path / "twin"
    tmp_path = tmp_path / "main"
    for workdir in (tmp_path, twin):
        _write_inputs(workdir, transactions, first_as_of)
        done = run_stage("segment", workdir)
        assert done.returncode == 0, done.stderr[-3000:]
    first = {name: (tmp_path / name).read_bytes() for name in OUTPUTS}
    for name in OUTPUTS:  # two runs on the same inputs: byte-identical outputs
        assert (twin / name).read_bytes() == first[name], name
    metrics = json.loads(first["reports/metrics/segments.json"])
    # no earlier run kept: the baseline is the tiers 3 months earlier, historic basis
    assert metrics["migration"]["baseline"].startswith("review: tiers as of 2024-06-30")
    # customers whose first transaction is after the baseline date are new, nobody else
    segments = pd.read_parquet(tmp_path / "data/processed/segments.parquet")
    first_dates = transactions.groupby("customer_id")["date"].min()
    joined_later = first_dates.reindex(segments["customer_id"]).to_numpy() > dt.date(2024, 6, 30)
    assert ((segments["tier_change"] == "new").to_numpy() == joined_later).all()
    assert (tmp_path / "data/history/2024-09-30/segments.parquet").read_bytes() == first[
        "data/processed/segments.parquet"
    ]

    done = run_stage("segment", tmp_path)  # rerun with the saved cluster model present
    assert done.returncode == 0, done.stderr[-3000:]
    for name in OUTPUTS:
        if name.endswith("segments.json"):  # differs only in the id-matching diagnostics
            again = json.loads((tmp_path / name).read_text())
            assert again["clusters"].pop("matched_previous_run") is True
            assert set(again["clusters"].pop("match_distance_by_cluster").values()) == {0.0}
            del metrics["clusters"]["matched_previous_run"]
            del metrics["clusters"]["match_distance_by_cluster"]
            assert again == metrics
        else:
            assert (tmp_path / name).read_bytes() == first[name], name

    # a later run: migration against the kept run, cluster ids carried over
    _write_inputs(tmp_path, transactions, dt.date(2024, 12, 31))
    done = run_stage("segment", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "reports/metrics/segments.json").read_text())
    assert "as_of 2024-09-30" in metrics["migration"]["baseline"]
    later = pd.read_parquet(tmp_path / "data/processed/segments.parquet")
    before = segments.set_index("customer_id")["value_tier"]
    rank = {"strategic": 3, "value": 2, "basic": 1}
    expected = [
        "new"
        if cid not in before.index
        else "same"
        if rank[now] == rank[before[cid]]
        else ("upgrade" if rank[now] > rank[before[cid]] else "downgrade")
        for cid, now in zip(later["customer_id"], later["value_tier"], strict=True)
    ]
    assert later["tier_change"].tolist() == expected
    counts = metrics["migration"]["counts"]
    assert sum(counts[c] for c in ["upgrade", "downgrade", "same", "new"]) == len(later)
    assert metrics["clusters"]["matched_previous_run"] is True
