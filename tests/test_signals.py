"""Balance snapshots and service events: the planted truth, and ingest reconciling them.

The generator's churn truth (dropout at the last transaction) decides who should show an
outflow and unresolved complaints; with ``effect=False`` nobody should. Ingest is checked
against the counts the generator recorded in ``data/sample/true_signals.json`` and against
a small hand-written extract whose every line's fate is known.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT
from ingest.mapping import load_mapping
from ingest.signals import clean_signal
from kequn.errors import UserError
from synthetic.balances import LOAN, churn_day, plant_balances
from synthetic.bank import generate
from synthetic.service import plant_events

SAMPLE = REPO_ROOT / "data" / "sample"
END = "2025-12-31"


@pytest.fixture(scope="module")
def small():
    return generate(3000, "2023-01-01", END, seed=11)


def _asset_ratio(balances: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    """Per customer who drops out in 2025: asset AUM two months after dropout / AUM six
    months before it (month-end snapshots, loans left out)."""
    gone = pd.Series(churn_day(customers), index=customers["customer_id"])
    gone = gone[(gone >= np.datetime64("2025-02-01")) & (gone <= np.datetime64("2025-10-31"))]
    assets = balances[balances["product"] != LOAN]
    aum = assets.groupby(["customer_id", "date"])["balance"].sum().unstack()
    aum = aum.reindex(gone.index)
    month = aum.columns.values.astype("datetime64[M]")
    at = gone.values.astype("datetime64[M]")
    before = np.array([aum.iloc[i, month == m - 6].sum() for i, m in enumerate(at)])
    after = np.array([aum.iloc[i, month == m + 2].sum() for i, m in enumerate(at)])
    ok = (before > 0) & (after > 0)
    return pd.Series(after[ok] / before[ok])


def _alive_ratio(balances: pd.DataFrame, customers: pd.DataFrame) -> pd.Series:
    alive = customers.loc[customers["alive"], "customer_id"]
    assets = balances[(balances["product"] != LOAN) & balances["customer_id"].isin(alive)]
    aum = assets.groupby(["customer_id", "date"])["balance"].sum().unstack()
    return (aum[pd.Timestamp("2025-10-31")] / aum[pd.Timestamp("2025-02-28")]).dropna()


def test_planted_outflow_before_churn_and_none_without_effect(small):
    customers = small.customers
    planted = plant_balances(customers, END, seed=11, effect=True)
    plain = plant_balances(customers, END, seed=11, effect=False)
    # lead 4 + tail 2 = 6 monthly steps of exp(-0.3) between the two month ends: 0.165
    assert _asset_ratio(planted, customers).median() == pytest.approx(np.exp(-1.8), rel=0.25)
    assert _asset_ratio(plain, customers).median() == pytest.approx(1.0, abs=0.1)
    assert _alive_ratio(planted, customers).median() == pytest.approx(1.0, abs=0.1)
    # loans are negative, several lines per client, some months missing
    assert (planted.loc[planted["product"] == LOAN, "balance"] < 0).all()
    assert (planted.loc[planted["product"] != LOAN, "balance"] > 0).all()
    assert planted.groupby("customer_id")["product"].nunique().max() >= 3
    months = planted.groupby(["customer_id", "product"])["date"].count()
    assert (months < months.max()).mean() > 0.2
    assert (planted["date"].dt.is_month_end).all()


def _unresolved_complaints(events: pd.DataFrame, who: pd.Series) -> float:
    """Unresolved complaints per customer of ``who``."""
    mask = (events["type"] == "投诉") & events["resolved_date"].isna()
    return mask[events["customer_id"].isin(who)].sum() / len(who)


def test_planted_complaints_before_churn_and_none_without_effect(small):
    customers = small.customers
    gone = customers.loc[~customers["alive"], "customer_id"]
    alive = customers.loc[customers["alive"], "customer_id"]
    planted = plant_events(customers, END, seed=11, effect=True)
    plain = plant_events(customers, END, seed=11, effect=False)
    assert _unresolved_complaints(planted, gone) > 3 * _unresolved_complaints(planted, alive)
    ratio = _unresolved_complaints(plain, gone) / _unresolved_complaints(plain, alive)
    # without the effect only the exposure differs (churned clients were acquired
    # earlier on average), never by a factor of three
    assert 0.5 < ratio < 2.0
    surveys = planted[planted["type"] == "满意度调查"]
    assert surveys["score"].between(1, 5).all() and surveys["score"].notna().all()
    assert planted.loc[planted["type"] != "投诉", "severity"].isna().all()
    resolved = planted.dropna(subset=["resolved_date"])
    assert (resolved["resolved_date"] >= resolved["date"]).all()
    assert (resolved["resolved_date"] <= pd.Timestamp(END)).all()


@pytest.mark.parametrize("kind", ["balances", "events"])
def test_sample_extracts_reconcile_exactly(kind, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    truth = json.loads((SAMPLE / "true_signals.json").read_text(encoding="utf-8"))
    expected = truth["expected_ingest"][kind]
    mapping = load_mapping(f"mappings/sample_{kind}.yaml", kind)
    con = duckdb.connect()
    accepted, rejects, metrics = clean_signal(con, mapping, kind, mapping.extract_date)
    assert metrics["rows_read"] == expected["rows_read"]
    assert metrics["rows_accepted"] == expected["rows_accepted"]
    assert metrics["rows_read"] == metrics["rows_accepted"] + metrics["rows_rejected"]
    found = {r: n for r, n in metrics["rejected_by_reason"].items() if n}
    assert found == expected["rejected_by_reason"]
    assert (
        con.execute(f"SELECT COUNT(*) FROM ({accepted})").fetchall()[0][0]
        == expected["rows_accepted"]
    )
    assert (
        con.execute(f"SELECT COUNT(*) FROM ({rejects})").fetchall()[0][0]
        == metrics["rows_rejected"]
    )


def _hand_extract(tmp_path):
    (tmp_path / "ev.csv").write_text(
        "id,cust,day,kind,sev,score,done\n"
        "E1,C1,20250105,投诉,高,,20250110\n"  # accepted complaint, resolved
        "E2,C1,20250201,投诉,低,,\n"  # accepted complaint, unresolved
        "E3,C2,20250301,满意度调查,,2,\n"  # accepted survey
        "E4,C2,20250302,咨询,,,\n"  # unmapped_value (type)
        "E5,C2,20250303,投诉,严重,,\n"  # unmapped_value (severity)
        "E6,C3,20250304,满意度调查,,x,\n"  # bad_score
        "E7,C3,20250305,投诉,中,,20250301\n"  # bad_date: resolved before the event
        "E1,C3,20250306,投诉,中,,\n"  # duplicate_event_id
        "E9,,20250307,投诉,中,,\n"  # blank_customer_id
        "E10,C4,20260101,投诉,中,,\n",  # date_after_extract
        encoding="utf-8",
    )
    (tmp_path / "ev.yaml").write_text(
        f'files: ["{tmp_path / "ev.csv"}"]\n'
        "columns: {event_id: id, customer_id: cust, date: day, type: kind, severity: sev, "
        "score: score, resolved_date: done}\n"
        'date_format: "%Y%m%d"\nextract_date: "2025-12-31"\n'
        "values:\n  type: {complaint: [投诉], survey: [满意度调查]}\n"
        "  severity: {high: [高], medium: [中], low: [低]}\n",
        encoding="utf-8",
    )
    return load_mapping(tmp_path / "ev.yaml", "events")


def test_hand_written_events_get_their_reasons(tmp_path):
    mapping = _hand_extract(tmp_path)
    con = duckdb.connect()
    accepted, rejects, metrics = clean_signal(con, mapping, "events", mapping.extract_date)
    rows = con.execute(accepted).df()
    assert rows["event_id"].tolist() == ["E1", "E2", "E3"]
    assert rows["type"].tolist() == ["complaint", "complaint", "survey"]
    assert rows["severity"].tolist()[:2] == ["high", "low"]
    assert rows["resolved_date"].iloc[0] == pd.Timestamp("2025-01-10")
    assert pd.isna(rows["resolved_date"].iloc[1])
    reasons = con.execute(rejects).df().set_index("line")["reason"].to_dict()
    assert reasons == {
        5: "unmapped_value",
        6: "unmapped_value",
        7: "bad_score",
        8: "bad_date",
        9: "duplicate_event_id",
        10: "blank_customer_id",
        11: "date_after_extract",
    }
    assert metrics["rows_read"] == 10 and metrics["rows_rejected"] == 7


def test_a_value_listed_twice_or_for_an_unmapped_role_is_refused(tmp_path):
    _hand_extract(tmp_path)
    text = (tmp_path / "ev.yaml").read_text(encoding="utf-8")
    (tmp_path / "twice.yaml").write_text(
        text.replace("survey: [满意度调查]", "survey: [满意度调查, 投诉]"), encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"twice.yaml: key 'values.type': '投诉' is listed twice"):
        load_mapping(tmp_path / "twice.yaml", "events")
    (tmp_path / "role.yaml").write_text(text + "  channel: {a: [b]}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"values.channel': the role is not mapped"):
        load_mapping(tmp_path / "role.yaml", "events")
