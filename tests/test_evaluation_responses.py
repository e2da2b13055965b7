"""Imported response extracts: mapping, rejects, one-line errors, per-arm lift."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from evaluation.campaigns import evaluate_campaigns
from evaluation.responses import load_response_mapping, read_responses
from kequn.errors import UserError

MAPPING = """
files: ["{file}"]
format: csv
encoding: utf-8
columns: {{customer_id: 客户号, campaign: 活动, group: 组别, contact_date: 日期}}
date_format: "%Y%m%d"
thousands: ","
groups: {{control: [对照], sms: [短信], call: [电话]}}
outcomes:
  responded: {{column: 响应, kind: rate, "yes": [是]}}
  revenue: {{column: 收入, kind: money}}
"""
AS_OF = dt.date(2025, 12, 31)


def write_extract(tmp_path, rows: list[str]) -> object:
    file = tmp_path / "responses.csv"
    file.write_text("客户号,活动,组别,日期,响应,收入\n" + "\n".join(rows) + "\n", encoding="utf-8")
    mapping = tmp_path / "responses.yaml"
    mapping.write_text(MAPPING.format(file=file.as_posix()), encoding="utf-8")
    return load_response_mapping(mapping)


def three_arms(n: int, seed: int) -> list[str]:
    """n clients split over control / sms (+2 points) / call (+5 points), base rate 10%."""
    rng = np.random.default_rng(seed)
    groups = rng.choice(["对照", "短信", "电话"], size=n)
    rate = np.select([groups == "短信", groups == "电话"], [0.12, 0.15], 0.10)
    hit = rng.random(n) < rate
    money = {True: '"1,200.00"', False: ""}
    return [
        f"C{i:07d},R1,{g},20251101,{'是' if h else '否'},{money[bool(h)]}"
        for i, (g, h) in enumerate(zip(groups, hit, strict=True))
    ]


def test_three_arms_each_against_control(tmp_path):
    mapping = write_extract(tmp_path, three_arms(64_000, seed=1))
    rows, rejects = read_responses(mapping, AS_OF)
    assert len(rows) == 64_000 and rejects.empty
    kinds = {"responded": "rate", "revenue": "money"}
    result = {
        e["arm"]: e
        for e in evaluate_campaigns(rows, kinds, {"R1": 2.0}, source="responses", seed=3, draws=300)
    }
    assert set(result) == {"sms", "call"}
    for arm, truth in (("sms", 0.02), ("call", 0.05)):
        responded = result[arm]["outcomes"]["responded"]
        assert responded["ci_low"] < truth < responded["ci_high"]
        assert responded["ci_low"] > 0 and responded["p_value"] < 1e-3
        revenue = result[arm]["outcomes"]["revenue"]
        assert revenue["ci_low"] < truth * 1200 < revenue["ci_high"]
        assert result[arm]["cost"] == 2.0 * result[arm]["treated"]
    assert result["sms"]["control"] == result["call"]["control"]


def test_known_two_point_lift_on_twenty_thousand(tmp_path):
    rng = np.random.default_rng(5)
    arm = np.repeat(["对照", "短信"], 10_000)
    hit = rng.random(20_000) < np.where(arm == "短信", 0.12, 0.10)
    lines = [
        f"C{i},R2,{a},20251101,{'是' if h else '否'},0"
        for i, (a, h) in enumerate(zip(arm, hit, strict=True))
    ]
    rows, _ = read_responses(write_extract(tmp_path, lines), AS_OF)
    (entry,) = evaluate_campaigns(rows, {"responded": "rate"}, {}, source="responses", seed=1)
    responded = entry["outcomes"]["responded"]
    assert responded["ci_low"] < 0.02 < responded["ci_high"] and responded["ci_low"] > 0


def test_bad_rows_are_rejected_with_line_and_reason(tmp_path):
    good = three_arms(300, seed=2)
    bad = [
        ",R1,对照,20251101,是,1",
        "C9,R1,对照,2025-11-01,是,1",
        "C8,R1,短信,20251101,是,abc",
        "C7,R1",
    ]
    mapping = write_extract(tmp_path, good[:100] + bad + good[100:])
    rows, rejects = read_responses(mapping, AS_OF)
    assert len(rows) + len(rejects) == 304
    assert list(rejects["line"]) == [102, 103, 104, 105]
    assert list(rejects["reason"]) == [
        "blank_customer_id",
        "bad_date",
        "bad_amount",
        "truncated_row",
    ]
    assert rejects["raw"].iloc[2] == "C8,R1,短信,20251101,是,abc"
    assert rejects["source_file"].str.endswith("responses.csv").all()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("C1,R1,邮件,20251101,是,1", r"responses.csv:3: group value '邮件' is not listed"),
        ("C1,R1,短信,20260105,是,1", r"responses.csv:3: contact date 2026-01-05 is after as_of"),
        ("C1,R9,短信,20251101,是,1", r"campaign 'R9' has no control group"),
    ],
)
def test_one_line_errors(tmp_path, line, message):
    mapping = write_extract(tmp_path, ["C0,R1,对照,20251101,否,", line])
    with pytest.raises(UserError, match=message):
        read_responses(mapping, AS_OF)


def test_mapping_errors_name_the_key(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        MAPPING.format(file="x.csv").replace("control: [对照], ", ""), encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"m.yaml: key 'groups'"):
        load_response_mapping(mapping)
    mapping.write_text(
        MAPPING.format(file="x.csv").replace("kind: money", "kind: euro"), encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"key 'outcomes.revenue'"):
        load_response_mapping(mapping)
    mapping.write_text(
        MAPPING.format(file="x.csv").replace("encoding: utf-8", "encoding: nope"), encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"m.yaml: key 'encoding'"):
        load_response_mapping(mapping)


def test_null_campaign_shows_no_lift(tmp_path):
    rng = np.random.default_rng(11)
    arm = rng.choice(["对照", "短信"], size=6000)
    hit = rng.random(6000) < 0.1
    lines = [
        f"C{i},R3,{a},20251101,{'是' if h else '否'},{100 if h else 0}"
        for i, (a, h) in enumerate(zip(arm, hit, strict=True))
    ]
    rows, _ = read_responses(write_extract(tmp_path, lines), AS_OF)
    (entry,) = evaluate_campaigns(
        rows,
        {"responded": "rate", "revenue": "money"},
        {"R3": 1.0},
        source="responses",
        seed=1,
        draws=400,
    )
    for name in ("responded", "revenue"):
        assert entry["outcomes"][name]["ci_low"] < 0 < entry["outcomes"][name]["ci_high"]
    assert isinstance(pd.Series(rows["revenue"]).sum(), float)
