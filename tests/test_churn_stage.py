"""The churn stage end to end on a small simulated project: contract, levels, reruns, errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import customer_features
from kequn.errors import UserError
from test_churn import THRESHOLDS, btyd_population

AS_OF = dt.date(2025, 6, 30)
CONTRACT = [
    "customer_id",
    "churn_probability",
    "warning_level",
    "median_days_to_inactivity",
    "reason_codes",
    "reasons_en",
    "reasons_zh",
]


def stage_params(**churn) -> dict:
    return {
        "as_of": AS_OF.isoformat(),
        "seed": 3,
        "features": {"time_unit_days": 7, "trend_window_days": 90},
        "segmentation": {"tier_shares": {"strategic": 0.5}},
        "churn": {
            "horizon_days": 60,
            "model": "auto",
            "calibration": "isotonic",
            "thresholds": THRESHOLDS,
            "value_weighted": True,
            "max_reasons": 3,
            **churn,
        },
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Inputs of the churn stage: transactions, customer features, CLV and a BG/NBD model."""
    from ltv import BetaGeoModel

    root = tmp_path_factory.mktemp("churn_stage")
    transactions = btyd_population(400, AS_OF, seed=21)
    customers = customer_features(transactions, AS_OF, unit_days=7, trend_window_days=90)
    # a contractual client whose account closes 10 days after as_of: churned by definition
    customers["close_date"] = pd.NaT
    customers.loc[5, "close_date"] = pd.Timestamp(AS_OF) + pd.Timedelta(days=10)
    model = BetaGeoModel().fit(
        *(customers[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    )
    # one client holds 60% of all CLV: the only strategic client under the 50% rule
    clv = np.ones(len(customers))
    clv[0] = 1.5 * (len(customers) - 1)
    value = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "clv": clv,
            "value_percentile": np.linspace(0, 100, len(clv)),
        }
    )
    for folder in ("data/interim", "data/processed", "models"):
        (root / folder).mkdir(parents=True)
    transactions.to_parquet(root / "data/interim/transactions.parquet", index=False)
    customers.to_parquet(root / "data/processed/customers.parquet", index=False)
    value.to_parquet(root / "data/processed/ltv.parquet", index=False)
    (root / "models/transaction_model.json").write_text(model.to_json(), encoding="utf-8")
    return root


def run_in(root: Path, monkeypatch, params: dict) -> None:
    from churn.stage import run

    monkeypatch.chdir(root)
    run(params)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stage_writes_the_contract_and_reruns_identically(project, monkeypatch):
    run_in(project, monkeypatch, stage_params())
    outputs = [
        project / "data/processed/churn.parquet",
        project / "reports/metrics/churn.json",
        *(
            project / "reports/plots" / f"churn_{n}.csv"
            for n in ("roc", "calibration", "gain", "km")
        ),
    ]
    first = [digest(p) for p in outputs]
    table = pd.read_parquet(outputs[0])
    customers = pd.read_parquet(project / "data/processed/customers.parquet")
    assert list(table.columns[: len(CONTRACT)]) == CONTRACT
    assert table["customer_id"].tolist() == customers["customer_id"].tolist()
    p = table["churn_probability"].to_numpy()
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()

    # levels from the thresholds by hand, one step up for the strategic client (row 0)
    step = (p >= 0.3).astype(int) + (p >= 0.5) + (p >= 0.7)
    assert table["strategic_client"].tolist() == [True] + [False] * (len(table) - 1)
    step[0] = min(step[0] + 1, 3) if step[0] > 0 else 0
    # clients silent for longer than the 60-day horizon are lapsed (win-back), not warned
    lapsed = customers["days_since_last"].to_numpy(float) > 60
    assert table["lapsed"].tolist() == lapsed.tolist() and 0 < lapsed.sum() < len(table)
    step[lapsed] = 0
    expected = np.array(["none", "yellow", "orange", "red"])[step]
    assert table["warning_level"].tolist() == expected.tolist()
    quiet = (table["warning_level"] == "none") & ~table["lapsed"]
    assert (table.loc[quiet, "reason_codes"] == "").all()
    assert table.loc[5, "churn_probability"] == 1.0
    assert table.loc[5, "reason_codes"].startswith("account_closing")
    assert table["reason_codes"].str.count(";").max() <= 2

    metrics = json.loads(
        outputs[1].read_text(encoding="utf-8"), parse_constant=lambda c: pytest.fail(c)
    )  # strict JSON: NaN or Infinity would fail here
    assert metrics["chosen"] in metrics["backtest"]
    assert sum(metrics["warning_levels"].values()) == len(table)
    assert metrics["lapsed_clients"] == lapsed.sum()
    assert metrics["active_clients"] + metrics["lapsed_clients"] == len(table)
    assert sum(metrics["active_at_risk"].values()) == (table["warning_level"] != "none").sum()
    assert metrics["windows"]["train_labels"][1] == metrics["windows"]["backtest_labels"][0]
    roc = pd.read_csv(outputs[2])
    assert list(roc.columns) == ["false_positive_rate", "true_positive_rate", "model"]
    assert set(roc["model"]) == set(metrics["backtest"])
    assert list(pd.read_csv(outputs[3]).columns) == ["predicted", "observed"]
    assert list(pd.read_csv(outputs[4]).columns) == ["share_of_customers", "model", "random"]
    km = pd.read_csv(outputs[5])
    assert {"all", "clv_top_20", "clv_middle_60", "clv_bottom_20"} <= set(km["group"])
    assert (km.groupby("group")["survival"].diff().dropna() <= 1e-12).all()  # non-increasing

    run_in(project, monkeypatch, stage_params())
    assert [digest(p) for p in outputs] == first


def test_bad_parameters_are_one_line_user_errors(project, monkeypatch):
    with pytest.raises(UserError, match="churn.model"):
        run_in(project, monkeypatch, stage_params(model="xgboost"))
    with pytest.raises(UserError, match="churn.thresholds"):
        run_in(
            project,
            monkeypatch,
            stage_params(thresholds={"red": 0.2, "orange": 0.5, "yellow": 0.3}),
        )


def test_missing_input_names_the_file(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="transactions.parquet"):
        run_in(tmp_path, monkeypatch, stage_params())


def test_as_of_after_the_data_stops_unless_opted_in():
    import datetime as dt

    from kequn.config import resolve_as_of
    from kequn.errors import UserError

    last = dt.date(2025, 6, 30)
    assert resolve_as_of({"as_of": "2025-06-30"}, last) == last
    assert resolve_as_of({"as_of": ""}, last) == last
    with pytest.raises(UserError, match="as_of=2025-07-01 is after the data's last date"):
        resolve_as_of({"as_of": "2025-07-01"}, last)
    opted = {"as_of": "2025-07-01", "allow_as_of_after_data": True}
    assert resolve_as_of(opted, last) == dt.date(2025, 7, 1)
