"""Per-client reasons in words and the campaign wording catalogue: texts predicted exactly
from each client's inputs, different clients get different texts, and the wording comes
from settings (params.yaml) with no code change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from kequn.errors import UserError
from kequn.settings import Wording, settings_from
from targeting import build_target_lists
from targeting.export import COLUMN_DOCS
from targeting.lists import LIST_COLUMNS, PRODUCT_COLUMNS
from targeting.reasons import client_reason
from targeting.wording import campaign_texts, money, percent, whole
from test_targeting import CONTEXT, customer_table, settings

EN = {c: campaign_texts(None, c, "en") for c in ("retention", "growth", "winback", "vip_care")}
ZH = {c: campaign_texts(None, c, "zh") for c in ("retention", "growth", "winback", "vip_care")}


def test_numbers_are_formatted_for_people():
    assert money(1234567.5) == "1,234,568" and money(999.4) == "999"
    assert percent(0.825) == "83%" and percent(0.0) == "0%" and percent(1) == "100%"
    assert whole(120.4) == "120"


def test_retention_reason_is_the_model_reason_the_outflow_and_the_risk():
    row = {
        "value_tier": "value",
        "churn_probability": 0.8249,
        "days_since_last": 120.0,
        "reasons_en": "value down 45% against the previous quarter; transacts only every 200 days",
        "reasons_zh": "交易金额较上一季度下降45%；平均每200天才交易一次",
        "aum_change_1m": -0.5,
        "aum_change_3m": -0.381,
        "unresolved_complaints": 2,
    }
    assert client_reason(row, "retention", "en", EN["retention"]) == (
        "value down 45% against the previous quarter, AUM down 38% in 3 months, 82% churn risk, "
        "value tier: preferential rate or fee waiver via relationship-manager call"
    )
    assert client_reason(row, "retention", "zh", ZH["retention"]) == (
        "交易金额较上一季度下降45%，资产近3个月下降38%，流失概率82%，"
        "价值客群：客户经理电话回访，利率优惠或费用减免"
    )


def test_retention_without_model_reasons_falls_back_to_silence_and_complaints():
    row = {
        "value_tier": "basic",
        "churn_probability": 0.5,
        "days_since_last": 120.0,
        "reasons_en": "",
        "aum_change_3m": -0.05,  # not an outflow
        "unresolved_complaints": 0,
        "complaints_90d": 1,
    }
    assert client_reason(row, "retention", "en", EN["retention"]) == (
        "no transaction for 120 days, 1 complaint in 90 days, 50% churn risk, "
        "basic tier: preferential rate or fee waiver via app push / SMS / self-service"
    )
    # without balance or event features, the churn stage's warnings are read when present
    bare = {"value_tier": "basic", "churn_probability": 0.5, "days_since_last": 10.0}
    assert client_reason({**bare, "outflow_warning": True}, "retention", "en", EN["retention"]) == (
        "asset-outflow warning, 50% churn risk, "
        "basic tier: preferential rate or fee waiver via app push / SMS / self-service"
    )
    assert client_reason(
        {**bare, "outflow_warning": "none"}, "retention", "zh", ZH["retention"]
    ) == ("流失概率50%，基础客群：手机银行推送/短信/自助渠道，利率优惠或费用减免")


def test_growth_reason_speaks_of_current_lines_or_names_the_recommended_product():
    row = {
        "value_tier": "basic",
        "clv": 12345.6,
        "churn_probability": 0.1,
        "n_products": 2,
        "share_product_存款": 0.7,
        "share_product_理财": 0.3,
        "share_product_贷款": 0.0,
    }
    assert client_reason(row, "growth", "en", EN["growth"]) == (
        "uses only deposit, wealth-management, predicted value 12,346, "
        "basic tier: offer the next product line via app push / SMS / self-service"
    )
    assert client_reason(row, "growth", "zh", ZH["growth"]) == (
        "仅使用存款、理财，预计价值12,346，基础客群：手机银行推送/短信/自助渠道，推荐新产品"
    )
    offered = {**row, "value_tier": "value", "product": "贷款", "product_probability": 0.341}
    assert client_reason(offered, "growth", "en", EN["growth"]) == (
        "likely to take up loan (34%), uses only deposit, wealth-management, "
        "predicted value 12,346, value tier: offer loan via relationship-manager call"
    )
    assert client_reason(offered, "growth", "zh", ZH["growth"]) == (
        "贷款适配概率34%，仅使用存款、理财，预计价值12,346，价值客群：客户经理电话回访，推荐贷款"
    )


def test_winback_and_vip_care_reasons():
    lapsed = {
        "value_tier": "value",
        "days_since_last": 240.0,
        "probability_alive": 0.45,
        "total_value": 1234567.0,
    }
    assert client_reason(lapsed, "winback", "en", EN["winback"]) == (
        "no transaction for 240 days, still 45% likely active, past business 1,234,567, "
        "value tier: welcome-back reward via relationship-manager call"
    )
    vip = {
        "value_tier": "strategic",
        "clv": 250000.0,
        "days_since_contact": float("nan"),
        "unresolved_complaints": 1,
    }
    assert client_reason(vip, "vip_care", "en", EN["vip_care"]) == (
        "1 unresolved complaint, no contact on record, predicted value 250,000, "
        "strategic tier: annual asset-allocation review via dedicated relationship-manager visit"
    )
    assert client_reason({**vip, "days_since_contact": 45.0}, "vip_care", "zh", ZH["vip_care"]) == (
        "1笔投诉未解决，距上次联系45天，预计价值250,000，战略客群：专属客户经理上门拜访，年度资产配置检视"
    )


def four_campaigns() -> dict:
    campaigns = {
        c: {"cost_per_contact": 0.0} for c in ("retention", "growth", "winback", "vip_care")
    }
    return settings(**campaigns)


def test_every_row_of_every_list_has_its_own_reason_in_the_report_language():
    table = customer_table(2000)
    rng = np.random.default_rng(3)
    table["aum_change_3m"] = rng.uniform(-0.6, 0.3, len(table))
    table["reasons_en"] = np.where(
        rng.uniform(size=len(table)) < 0.5, "only one product line left", "infrequent"
    )
    for language in ("en", "zh"):
        lists, _ = build_target_lists(table, four_campaigns(), CONTEXT, language=language)
        assert set(lists) == {"retention", "growth", "winback", "vip_care"}
        for campaign, frame in lists.items():
            assert len(frame) and frame["reason"].str.len().gt(0).all(), campaign
            # each text carries the client's own numbers
            rows = table.merge(frame[["customer_id", "reason"]], on="customer_id")
            for _, row in rows.head(20).iterrows():
                expected = client_reason(
                    row.to_dict(), campaign, language, campaign_texts(None, campaign, language)
                )
                assert row["reason"] == expected
    retention = lists["retention"].merge(table[["customer_id", "aum_change_3m"]], on="customer_id")
    outflow = retention["aum_change_3m"] <= -0.1
    assert retention.loc[outflow, "reason"].str.contains("资产近3个月下降").all()
    assert not retention.loc[~outflow, "reason"].str.contains("资产近3个月下降").any()


def test_two_clients_with_different_reasons_get_different_texts():
    base = {
        "value_tier": "value",
        "churn_probability": 0.7,
        "days_since_last": 95.0,
        "reasons_en": "no transaction for 95 days, 3.2× their usual gap",
    }
    other = {**base, "reasons_en": "moved from counter to mobile", "aum_change_3m": -0.2}
    a = client_reason(base, "retention", "en", EN["retention"])
    b = client_reason(other, "retention", "en", EN["retention"])
    assert a != b
    assert "3.2× their usual gap" in a and "counter to mobile" not in a
    assert "counter to mobile" in b and "AUM down 20% in 3 months" in b
    # on a built list, clients whose facts differ never share a text
    table = customer_table(1500)
    lists, _ = build_target_lists(table, four_campaigns(), CONTEXT)
    winback = lists["winback"].merge(table, on="customer_id", suffixes=("", "_t"))
    facts = winback[["days_since_last", "probability_alive", "total_value"]].round(2)
    assert winback["reason"].nunique() == len(facts.drop_duplicates()) > 10


def test_params_yaml_wording_is_the_schema_default_and_the_list_text():
    with open("params.yaml", encoding="utf-8") as handle:
        params = yaml.safe_load(handle)
    assert settings_from(params).targeting.wording == Wording()
    lists, _ = build_target_lists(customer_table(800), four_campaigns(), CONTEXT, language="zh")
    retention = lists["retention"]
    assert (retention["action"] == "挽留关怀与优惠").all()
    by_tier = retention.groupby("value_tier")["channel"].unique().map(list).to_dict()
    expected = {"strategic": ["专属客户经理上门拜访"], "value": ["客户经理电话回访"]}
    expected["basic"] = ["手机银行推送/短信/自助渠道"]
    assert by_tier == {t: expected[t] for t in by_tier}


def test_changing_the_wording_in_settings_changes_the_lists_with_no_code_change():
    params = {
        "targeting": {
            "wording": {
                "growth": {"en": {"offer": "email voucher", "channel": {"basic": "Email"}}},
                "retention": {"en": {"action": "Loyalty call"}},
            }
        }
    }
    typed = settings_from(params).targeting.as_dict()
    lists, _ = build_target_lists(
        customer_table(1500), {**four_campaigns(), "wording": typed["wording"]}, CONTEXT
    )
    growth = lists["growth"]
    assert (growth["offer"] == "email voucher").all()
    assert growth["reason"].str.contains("email voucher").all()
    basic = growth["value_tier"] == "basic"
    assert basic.any() and (growth.loc[basic, "channel"] == "Email").all()
    assert growth.loc[basic, "reason"].str.endswith("email voucher via email").all()
    # what was not overridden keeps the bank's wording
    assert (
        growth.loc[~basic & (growth["value_tier"] == "value"), "channel"]
        == "Relationship-manager call"
    ).all()
    assert (growth["action"] == "Cross-sell the next product").all()
    assert (lists["retention"]["action"] == "Loyalty call").all()
    assert (lists["retention"]["offer"] == "preferential rate or fee waiver").all()


UNKNOWN = "params.yaml: targeting.wording.{}: unknown key; did you mean targeting.wording.{}?"


@pytest.mark.parametrize(
    ("wording", "line"),
    [
        ({"growht": {}}, UNKNOWN.format("growht", "growth")),
        ({"growth": {"eng": {}}}, UNKNOWN.format("growth.eng", "growth.en")),
        (
            {"vip_care": {"zh": {"ofer": "x"}}},
            UNKNOWN.format("vip_care.zh.ofer", "vip_care.zh.offer"),
        ),
        (
            {"winback": {"en": {"channel": {"stratgic": "x"}}}},
            UNKNOWN.format("winback.en.channel.stratgic", "winback.en.channel.strategic"),
        ),
        (
            {"retention": {"en": {"action": " "}}},
            "params.yaml: targeting.wording.retention.en.action: must not be empty",
        ),
        (
            {"retention": {"en": {"offer": 3}}},
            "params.yaml: targeting.wording.retention.en.offer: 3 (int) must be a string",
        ),
    ],
)
def test_a_bad_wording_key_fails_with_one_line(wording, line):
    with pytest.raises(UserError) as caught:
        settings_from({"targeting": {"wording": wording}})
    assert str(caught.value) == line


def test_every_list_column_is_described_in_both_languages():
    # every list's columns first, then the optional ones some lists add
    assert list(COLUMN_DOCS)[: len(LIST_COLUMNS)] == LIST_COLUMNS
    optional = set(COLUMN_DOCS) - set(LIST_COLUMNS)
    assert optional == {
        "aum_latest",
        "aum_at_risk",
        "outflow_warning",
        "complaint_warning",
        *PRODUCT_COLUMNS,
    }
    assert all(en and zh for en, zh in COLUMN_DOCS.values())
    assert "reason" in COLUMN_DOCS["reason"][0].lower() or "why" in COLUMN_DOCS["reason"][0].lower()


def test_a_list_without_the_optional_columns_still_gets_reasons():
    table = customer_table(600).drop(columns=["reasons_en", "reasons_zh"])
    frame = pd.DataFrame(table)
    lists, _ = build_target_lists(frame, four_campaigns(), CONTEXT)
    for campaign, got in lists.items():
        assert got["reason"].str.contains(" tier: ").all(), campaign
