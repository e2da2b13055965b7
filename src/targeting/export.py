"""The files marketers import: one UTF-8-with-BOM CSV per campaign and one XLSX workbook.

Every text cell goes through :func:`targeting.safety.neutralise_formulas` first, so a hostile
value (a customer id such as ``=HYPERLINK(...)``) is shown as text, never run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from pathlib import Path

import pandas as pd

from kequn.io import atomic_path, write_csv
from targeting.allocation import file_stem, sheet_name
from targeting.safety import neutralise_formulas

#: the workbook gets one sheet per branch when there are at most this many branches
MAX_BRANCH_SHEETS = 12

#: what each list column means (the XLSX "columns" sheet and the README repeat this)
COLUMN_DOCS = {
    "rank": ("Position in the list, 1 = contact first", "名单排序，1为最优先"),
    "customer_id": ("Client id as in the extract", "客户号"),
    "campaign": ("Campaign code: retention, growth, winback, vip_care", "活动代码"),
    "branch": ("Branch code from the client master; unassigned = none on record", "网点号"),
    "branch_name": ("Branch name from the client master", "网点名称"),
    "relationship_manager": ("Relationship manager; unassigned = none on record", "客户经理"),
    "score": ("What the list is ranked on (the campaign's value at stake)", "排序得分"),
    "expected_value": ("Expected value of one contact = response rate x value", "单次接触预期价值"),
    "clv": ("Predicted customer lifetime value over the horizon", "预测客户终身价值"),
    "churn_probability": ("Calibrated probability of no transaction in the horizon", "流失概率"),
    "warning_level": ("Churn warning: red, orange, yellow, none", "流失预警等级"),
    "value_tier": ("Value tier: strategic, value, basic", "价值分层"),
    "segment": ("RFM segment code", "RFM客群"),
    "action": ("Recommended action (targeting.wording)", "建议动作"),
    "channel": ("Recommended channel, by value tier (targeting.wording)", "建议渠道"),
    "offer": (
        "What to offer (targeting.wording; growth: the recommended product)",
        "建议权益/产品",
    ),
    "cadence_days": ("Contact cadence of the tier, days (回访频率)", "回访频率(天)"),
    "reasons": ("Up to three reasons, with the client's own numbers", "入选原因"),
    "reason": (
        "Why this client and what to do, in words: up to three of the client's own facts "
        "(model reason, asset outflow, complaints, recency, value, product), tier, channel, offer",
        "入选理由与建议：客户自身的至多三条事实（模型原因、资产流出、投诉、交易间隔、价值、产品）、"
        "价值分层、渠道与权益",
    ),
    "control": ("1 = control group: do NOT contact (measures the campaign's effect)", "对照组"),
    "aum_latest": ("Assets under management at the last balance snapshot", "最新资产(AUM)"),
    "aum_at_risk": ("Assets at risk = AUM x churn probability (retention rank)", "风险资产"),
    "outflow_warning": ("Asset-outflow warning: red, orange, yellow, none", "资产流失预警"),
    "complaint_warning": ("Complaint warning: red, orange, yellow, none", "投诉预警"),
    "product": (
        "Growth list: recommended product line not yet held (deposit, loan, fee)",
        "推荐产品线（客户尚未持有）",
    ),
    "product_probability": (
        "Growth list: probability of taking the product up within the horizon",
        "产品适配概率（期内开始使用）",
    ),
    "product_value": (
        "Growth list: probability x margin of a take-up of the line over the horizon",
        "产品适配预期价值",
    ),
}


def write_campaign_csvs(lists: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write ``<campaign>.csv`` for every list (UTF-8 with BOM); remove lists no longer produced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for campaign, frame in lists.items():
        path = out_dir / f"{campaign}.csv"
        write_csv(path, neutralise_formulas(frame), bom=True)
        written.append(path)
    for stale in out_dir.glob("*.csv"):
        if stale not in written:
            stale.unlink()
    return written


def by_branch(lists: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every list's rows regrouped per branch: branch -> rows of all campaigns, in campaign
    order then rank (the ``campaign`` and ``rank`` columns say where each row came from)."""
    frames = [frame for frame in lists.values() if len(frame)]
    if not frames:
        return {}
    rows = pd.concat(frames, ignore_index=True)
    return {
        str(branch): group.reset_index(drop=True)
        for branch, group in rows.groupby("branch", sort=True)
    }


def write_branch_csvs(lists: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write ``by_branch/<branch>.csv`` (UTF-8 with BOM) for every branch with a listed
    client; remove the files of branches no longer listed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for branch, frame in by_branch(lists).items():
        path = out_dir / f"{file_stem(branch)}.csv"
        write_csv(path, neutralise_formulas(frame), bom=True)
        written.append(path)
    for stale in out_dir.glob("*.csv"):
        if stale not in written:
            stale.unlink()
    return written


def write_workbook(
    lists: dict[str, pd.DataFrame], path: Path, *, as_of: str, run_date: str, params: dict
) -> None:
    """One sheet per campaign, one per branch when there are 2 to :data:`MAX_BRANCH_SHEETS`
    branches, and a ``columns`` sheet explaining every column and the run."""
    branches = by_branch(lists)
    if not 2 <= len(branches) <= MAX_BRANCH_SHEETS:
        branches = {}
    about = pd.DataFrame(
        [(name, en, zh) for name, (en, zh) in COLUMN_DOCS.items()],
        columns=["column", "meaning", "含义"],
    )
    run = pd.DataFrame(
        {
            "column": ["as_of", "run_date", "params"],
            "meaning": [as_of, run_date, json.dumps(params, ensure_ascii=False, sort_keys=True)],
            "含义": ["评分日期", "运行日期", "参数"],
        }
    )
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            taken = {*lists, "columns"}
            for campaign, frame in lists.items():
                neutralise_formulas(frame).to_excel(writer, sheet_name=campaign, index=False)
            for branch, frame in branches.items():
                name = sheet_name(branch, taken)
                taken.add(name)
                neutralise_formulas(frame).to_excel(writer, sheet_name=name, index=False)
            pd.concat([about, run], ignore_index=True).to_excel(
                writer, sheet_name="columns", index=False
            )
        stamp_workbook(tmp, dt.date.fromisoformat(run_date))


#: the document properties openpyxl stamps with the current time
_PROPERTY_TIMES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def stamp_workbook(path: Path, day: dt.date) -> None:
    """Give every time inside the XLSX ``path`` the same value, midnight of ``day`` (UTC).

    openpyxl records the second it wrote the file, both in the document properties
    (``docProps/core.xml``) and in each zip entry's header, so two runs of the same day
    would differ in bytes; the workbook is rewritten with those times fixed, entries in the
    same order and compression, so reruns give byte-identical files.
    """
    iso = f"{day.isoformat()}T00:00:00Z".encode()
    midnight = (day.year, day.month, day.day, 0, 0, 0)
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w") as target:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = _PROPERTY_TIMES.sub(rb"\g<1>" + iso + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=midnight)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            target.writestr(fixed, data)
