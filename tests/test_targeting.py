"""Target lists: ranking, stopping rules, one campaign per customer, control groups,
do-not-contact suppression, formula-safe files and byte-identical reruns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting import build_target_lists, control_flags, neutralise_formulas
from targeting.export import write_campaign_csvs, write_workbook
from targeting.safety import read_id_list

CONTEXT = {
    "horizon_days": 365.25,
    "cadence_days": {"strategic": 30, "value": 90, "basic": 180},
}


def settings(**campaigns) -> dict:
    return {
        "control_share": 0.1,
        "priority": ["vip_care", "retention", "winback", "growth"],
        "campaigns": campaigns,
    }


def customer_table(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"{i:010d}" for i in range(n)],
            "clv": rng.gamma(2.0, 500.0, n),
            "churn_probability": rng.uniform(0, 1, n),
            "probability_alive": rng.uniform(0, 1, n),
            "warning_level": rng.choice(["red", "orange", "yellow", "none"], n),
            "value_tier": rng.choice(["strategic", "value", "basic"], n, p=[0.1, 0.3, 0.6]),
            "rfm_segment": "loyal",
            "n_products": rng.integers(1, 4, n),
            "days_since_last": rng.integers(0, 400, n).astype(float),
            "days_since_contact": rng.integers(0, 400, n).astype(float),
            "tenure_days": rng.integers(400, 1000, n).astype(float),
            "total_value": rng.gamma(2.0, 5000.0, n),
            "margin": 0.1,
            "reasons_en": "",
            "reasons_zh": "",
        }
    )


def test_retention_ranks_by_value_at_risk_computed_by_hand():
    table = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "clv": [1000.0, 4000.0, 3000.0, 9000.0],
            "churn_probability": [0.9, 0.5, 0.8, 0.6],
            "probability_alive": 0.5,
            "warning_level": ["red", "orange", "red", "none"],
            "value_tier": "value",
            "rfm_segment": "at_risk",
            "n_products": 1,
            "days_since_last": 10.0,
            "days_since_contact": 10.0,
            "tenure_days": 500.0,
            "total_value": 100.0,
        }
    )
    retention = {"capacity": 10, "cost_per_contact": 0.0, "response_rate": 0.5}
    lists, _ = build_target_lists(table, settings(retention=retention), CONTEXT)
    got = lists["retention"]
    # value at risk: a 900, b 2000, c 2400; d is not at risk (warning none)
    assert got["customer_id"].tolist() == ["c", "b", "a"]
    assert got["score"].tolist() == [2400.0, 2000.0, 900.0]
    assert got["expected_value"].tolist() == [1200.0, 1000.0, 450.0]
    assert got["rank"].tolist() == [1, 2, 3]


def test_with_balances_retention_takes_outflow_clients_and_ranks_by_assets_at_risk():
    table = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "clv": [1000.0, 4000.0, 3000.0, 9000.0, 500.0],
            "churn_probability": [0.9, 0.5, 0.8, 0.4, 0.1],
            "probability_alive": 0.5,
            "warning_level": ["red", "orange", "red", "none", "none"],
            # d: no churn warning but its assets flow out; e: a yellow outflow is not enough
            "outflow_warning": ["none", "none", "none", "red", "yellow"],
            "aum_latest": [50_000.0, 10_000.0, np.nan, 200_000.0, 90_000.0],
            "value_tier": "value",
            "rfm_segment": "at_risk",
            "n_products": 1,
            "days_since_last": 10.0,
            "days_since_contact": 10.0,
            "tenure_days": 500.0,
            "total_value": 100.0,
        }
    )
    retention = {"capacity": 10, "cost_per_contact": 0.0, "response_rate": 0.5}
    lists, _ = build_target_lists(table, settings(retention=retention), CONTEXT)
    got = lists["retention"]
    # assets at risk: d 80,000, a 45,000, b 5,000; c has no snapshot: last
    assert got["customer_id"].tolist() == ["d", "a", "b", "c"]
    assert got["aum_at_risk"].tolist()[:3] == [80_000.0, 45_000.0, 5_000.0]
    assert np.isnan(got["aum_at_risk"].iloc[3])
    # the expected value stays response rate x CLV x P(churn)
    assert got["expected_value"].tolist() == [1800.0, 450.0, 1000.0, 1200.0]
    assert got["outflow_warning"].tolist() == ["red", "none", "none", "none"]  # on the list


def test_list_stops_where_a_contact_no_longer_pays_and_at_capacity_and_budget():
    table = customer_table(2000)
    base = {"cost_per_contact": 40.0, "response_rate": 0.1, "min_expected_return": 10.0}
    lists, metrics = build_target_lists(table, settings(retention={**base}), CONTEXT)
    got = lists["retention"]
    assert (got["expected_value"] - 40.0 >= 10.0 - 1e-9).all()
    at_risk = table[table["warning_level"].isin(["red", "orange"])]
    paying = (0.1 * at_risk["clv"] * at_risk["churn_probability"] - 40.0 >= 10.0).sum()
    assert len(got) == paying == metrics["campaigns"]["retention"]["paying"]

    capped, _ = build_target_lists(table, settings(retention={**base, "capacity": 7}), CONTEXT)
    assert len(capped["retention"]) == 7
    assert capped["retention"]["customer_id"].tolist() == got["customer_id"].head(7).tolist()
    budgeted, _ = build_target_lists(table, settings(retention={**base, "budget": 200.0}), CONTEXT)
    assert len(budgeted["retention"]) == 5  # 200 / 40 contacts


def test_a_customer_lands_in_one_campaign_only_by_priority_and_overlap_is_counted():
    table = customer_table(3000)
    everyone = {"cost_per_contact": 0.0, "response_rate": 0.1, "min_probability_alive": 0.0}
    campaigns = {c: dict(everyone) for c in ("retention", "growth", "winback", "vip_care")}
    lists, metrics = build_target_lists(table, settings(**campaigns), CONTEXT)
    ids = pd.concat([frame["customer_id"] for frame in lists.values()])
    assert ids.is_unique
    # every strategic red/orange client due for contact is eligible for both; vip_care wins
    both = table[
        (table["value_tier"] == "strategic")
        & table["warning_level"].isin(["red", "orange"])
        & (table["days_since_contact"] >= 30)
    ]["customer_id"]
    assert set(both) <= set(lists["vip_care"]["customer_id"])
    assert not set(both) & set(lists["retention"]["customer_id"])
    assert metrics["campaigns"]["retention"]["overlap_removed"] == len(both)


def test_do_not_contact_ids_never_appear_even_the_most_valuable():
    table = customer_table(3000)
    top = table.sort_values("clv", ascending=False)["customer_id"].head(50)
    dnc = set(top) | {"not-a-customer"}
    everyone = {"cost_per_contact": 0.0, "response_rate": 0.1, "min_probability_alive": 0.0}
    campaigns = {c: dict(everyone) for c in ("retention", "growth", "winback", "vip_care")}
    lists, metrics = build_target_lists(table, settings(**campaigns), CONTEXT, do_not_contact=dnc)
    listed = set(pd.concat([frame["customer_id"] for frame in lists.values()]))
    assert not listed & dnc
    assert metrics["suppressed_total"] == 50
    assert sum(m["suppressed"] for m in metrics["campaigns"].values()) > 0


def test_control_assignment_is_a_stable_seeded_share():
    ids = pd.Series([f"{i:010d}" for i in range(20000)])
    flags = control_flags(ids, "retention", 0.1, seed=7)
    # binomial(20000, 0.1): sd = 42 customers, so 0.1 +- 0.009 is more than 4 sd
    assert abs(flags.mean() - 0.1) < 0.009
    # the same customer keeps the same flag whatever else is in the list
    subset = control_flags(ids.iloc[::3].reset_index(drop=True), "retention", 0.1, seed=7)
    assert (subset == flags[::3]).all()
    # a different campaign or seed draws a different, independent group
    other = control_flags(ids, "growth", 0.1, seed=7)
    assert (other != flags).any()
    assert abs((other & flags).mean() - 0.01) < 0.004


def test_hostile_cells_are_neutralised_in_the_written_csv(tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ['=HYPERLINK("http://x","y")', "+1", "@SUM(A1)", "\tcmd", "0100012345"],
            "clv": [-5.0, 1.0, 2.0, 3.0, 4.0],
        }
    )
    safe = neutralise_formulas(frame)
    assert safe["customer_id"].tolist()[:4] == [
        '\'=HYPERLINK("http://x","y")',
        "'+1",
        "'@SUM(A1)",
        "'\tcmd",
    ]
    assert safe["customer_id"].iloc[4] == "0100012345"
    assert safe["clv"].iloc[0] == -5.0  # numbers stay numbers
    write_campaign_csvs({"retention": frame}, tmp_path)
    raw = (tmp_path / "retention.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    back = pd.read_csv(tmp_path / "retention.csv", dtype=str, encoding="utf-8-sig")
    assert not back["customer_id"].str.match(r"^[=+\-@\t\r]").any()


def test_same_inputs_give_byte_identical_csvs(tmp_path):
    table = customer_table(2000)
    everyone = {"cost_per_contact": 1.0, "response_rate": 0.1, "min_probability_alive": 0.0}
    campaigns = {c: dict(everyone) for c in ("retention", "growth", "winback", "vip_care")}
    outputs = []
    for run in ("a", "b"):
        shuffled = table.sample(frac=1.0, random_state=len(run) + ord(run))
        lists, _ = build_target_lists(shuffled, settings(**campaigns), CONTEXT, seed=3)
        write_campaign_csvs(lists, tmp_path / run)
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / run).glob("*.csv"))})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 4


def test_workbook_times_are_the_run_date_so_reruns_are_byte_identical(tmp_path):
    """openpyxl stamps the current second in the properties and in every zip entry; the
    workbook must carry the run date only (else two runs of a day differ in bytes)."""
    import zipfile

    lists, _ = build_target_lists(
        customer_table(300), settings(retention={"cost_per_contact": 0.0}), CONTEXT, seed=3
    )
    written = []
    for run in ("a", "b"):
        path = tmp_path / f"{run}.xlsx"
        write_workbook(lists, path, as_of="2025-12-31", run_date="2026-01-05", params={"x": 1})
        written.append(path.read_bytes())
        with zipfile.ZipFile(path) as book:
            assert {info.date_time for info in book.infolist()} == {(2026, 1, 5, 0, 0, 0)}
            core = book.read("docProps/core.xml").decode()
            assert core.count("2026-01-05T00:00:00Z") == 2  # created and modified
            assert book.testzip() is None
    assert written[0] == written[1]
    back = pd.read_excel(tmp_path / "a.xlsx", sheet_name=None)  # still a valid workbook
    assert set(back) == {*lists, "columns"}


def test_reasons_carry_the_customers_numbers_in_both_languages():
    table = customer_table(500)
    table["reasons_zh"] = "已84天无交易"
    retention = {"cost_per_contact": 0.0, "response_rate": 0.1}
    en, _ = build_target_lists(table, settings(retention=retention), CONTEXT, language="en")
    zh, _ = build_target_lists(table, settings(retention=retention), CONTEXT, language="zh")
    first = en["retention"].iloc[0]
    expected_pct = f"{round(first['churn_probability'] * 100)}%"
    assert expected_pct in first["reasons"] and "churn risk" in first["reasons"]
    assert zh["retention"]["reasons"].str.contains("流失概率").all()
    assert zh["retention"]["reasons"].str.contains("已84天无交易").all()
    assert (zh["retention"]["reasons"].str.count("；") <= 2).all()


def test_unknown_campaign_is_refused():
    with pytest.raises(ValueError, match="unknown campaign"):
        build_target_lists(customer_table(10), settings(bogus={}), CONTEXT)


def test_do_not_contact_file_reads_utf8_and_gb18030(tmp_path):
    (tmp_path / "a.csv").write_text("客户号\n0100000001\n 0100000002 \n", encoding="utf-8-sig")
    (tmp_path / "b.csv").write_bytes("客户号\n0100000003\n".encode("gb18030"))
    assert read_id_list(tmp_path / "a.csv") == {"0100000001", "0100000002"}
    assert read_id_list(tmp_path / "b.csv") == {"0100000003"}


def test_vip_care_takes_strategic_clients_due_under_cadence_or_never_contacted():
    table = customer_table(6)
    table["value_tier"] = ["strategic", "strategic", "strategic", "value", "strategic", "basic"]
    table["days_since_contact"] = [45.0, 10.0, np.nan, 400.0, 30.0, np.nan]
    vip = {"cost_per_contact": 0.0, "response_rate": 0.1}
    lists, _ = build_target_lists(table, settings(vip_care=vip), CONTEXT, language="en")
    got = lists["vip_care"].set_index("customer_id")
    # cadence 30 days: due at 45 and 30, not at 10; never contacted is due; other tiers never
    assert set(got.index) == {"0000000000", "0000000002", "0000000004"}
    assert got.loc["0000000002", "reasons"] == "strategic client, no contact on record"
    assert got.loc["0000000000", "reasons"] == "strategic client, 45 days since the last contact"


def test_contact_history_file_gives_days_since_the_latest_contact(tmp_path):
    import datetime as dt

    from kequn.errors import UserError
    from targeting.stage import days_since_contact

    path = tmp_path / "contacts.csv"
    path.write_text(
        "customer_id,last_contact_date\na,2025-12-01\na,2025-12-21\nb,2025-01-01\n", "utf-8"
    )
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"]})
    days = days_since_contact(customers, str(path), dt.date(2025, 12, 31))
    assert days.iloc[0] == 10 and days.iloc[1] == 364 and np.isnan(days.iloc[2])
    path.write_text("customer_id,last_contact_date\na,31/12/2025\n", "utf-8")
    with pytest.raises(UserError, match=r"contacts.csv:2: last_contact_date"):
        days_since_contact(customers, str(path), dt.date(2025, 12, 31))


def test_winback_value_uses_each_clients_margin_from_ltv():
    from targeting.campaigns import candidates

    table = customer_table(4).assign(
        days_since_last=400.0, probability_alive=0.5, total_value=1000.0, tenure_days=500.0
    )
    table["margin"] = [0.01, 0.02, 0.04, 0.0]
    winback = {"lapsed_days": 180, "min_probability_alive": 0.2}
    got = candidates(table, "winback", winback, CONTEXT).set_index("customer_id")
    per_horizon = 1000.0 / 500.0 * CONTEXT["horizon_days"] * 0.5
    expected = pd.Series(per_horizon * table["margin"].to_numpy(), index=table["customer_id"])
    assert got["value_at_stake"].to_numpy() == pytest.approx(expected[got.index].to_numpy())
