"""Each listed client's reason in words (``reason``): the client's own facts, then what to do.

A reason is up to three facts about the client, picked per campaign from what the earlier
stages found, then the client's value tier, the channel and the campaign's offer
(:mod:`targeting.wording`)::

    en: "<fact>, <fact>, <fact>, <tier> tier: <offer> via <channel>"
    zh: "<fact>，<fact>，<fact>，<tier>：<channel>，<offer>"

e.g. "已120天无交易，是其平均间隔的2.5倍，资产近3个月下降38%，流失概率82%，
价值客群：客户经理电话回访，利率优惠或费用减免" (one line on the list). The facts, in the order
they are tried (a fact whose columns are absent or whose condition does not hold is skipped):

- retention: the churn model's strongest reason for the client (the first of
  ``reasons_en``/``reasons_zh``, from :func:`churn.reasons.explain`: the feature, its value
  and its direction; else the days without a transaction), then asset outflow (AUM down at
  least :data:`OUTFLOW` over 3 months, else over 1 month, else ``outflow_warning``) or
  complaints (unresolved, else in the last 90 days, else ``complaint_warning``), and always
  the churn probability;
- growth: the recommended ``product`` and its take-up probability when the list has them,
  the product lines the client holds now (``share_product_<line>`` > 0, else ``n_products``),
  and the predicted value (CLV);
- winback: the days without a transaction, P(alive) and the past business (total value);
- vip_care: complaints, asset outflow, the days since the last contact (or none on record)
  and the predicted value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from kequn.labels import label
from targeting.wording import mid_sentence, money, offer_text, percent, whole

#: AUM change at or below which asset outflow is a reason (-0.1 = down 10 % or more)
OUTFLOW = -0.10
#: days without a transaction from which silence is a reason of its own
SILENT_DAYS = 30
MAX_FACTS = 3
LINE_PREFIX = "share_product_"

Fact = Callable[[Mapping[str, Any], bool], "str | None"]


def _num(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _flag(row: Mapping[str, Any], column: str) -> bool:
    """A warning column that may be a bool, a 0/1 or a level ("none" / "" = off)."""
    value = row.get(column)
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "none", "0", "false", "no")
    return bool(value)


def silence(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "no transaction for 120 days" when at least :data:`SILENT_DAYS` days."""
    days = _num(row, "days_since_last")
    if days is None or days < SILENT_DAYS:
        return None
    return f"已{whole(days)}天无交易" if zh else f"no transaction for {whole(days)} days"


def model_reason(row: Mapping[str, Any], zh: bool) -> str | None:
    """The churn model's strongest reason for the client (first of ``reasons_<language>``)."""
    text = row.get("reasons_zh" if zh else "reasons_en")
    if not isinstance(text, str) or not text.strip():
        return None
    return text.split("；" if zh else "; ")[0].strip()


def outflow(row: Mapping[str, Any], zh: bool) -> str | None:
    """Assets leaving: "AUM down 38% in 3 months" (3 months first, then 1 month), else the
    churn stage's ``outflow_warning``."""
    for months in (3, 1):
        change = _num(row, f"aum_change_{months}m")
        if change is not None and change <= OUTFLOW:
            down = percent(-change)
            return f"资产近{months}个月下降{down}" if zh else f"AUM down {down} in {months} months"
    if _flag(row, "outflow_warning"):
        return "资产流出预警" if zh else "asset-outflow warning"
    return None


def complaints(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "2 unresolved complaints", else "1 complaint in 90 days", else ``complaint_warning``."""
    open_ = _num(row, "unresolved_complaints") or 0.0
    if open_ >= 1:
        n = whole(open_)
        return f"{n}笔投诉未解决" if zh else f"{n} unresolved complaint{'s' if open_ > 1 else ''}"
    recent = _num(row, "complaints_90d") or 0.0
    if recent >= 1:
        n = whole(recent)
        return f"近90天投诉{n}次" if zh else f"{n} complaint{'s' if recent > 1 else ''} in 90 days"
    if _flag(row, "complaint_warning"):
        return "投诉预警" if zh else "complaint warning"
    return None


def churn_risk(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "82% churn risk"."""
    p = _num(row, "churn_probability")
    if p is None:
        return None
    return f"流失概率{percent(p)}" if zh else f"{percent(p)} churn risk"


def predicted_value(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "predicted value 12,345" (CLV over the horizon)."""
    clv = _num(row, "clv")
    if clv is None:
        return None
    return f"预计价值{money(clv)}" if zh else f"predicted value {money(clv)}"


def held_lines(row: Mapping[str, Any], zh: bool) -> str | None:
    """The lines the client uses now: "uses only deposit, wealth-management" (from the
    ``share_product_<line>`` columns), else "uses only 2 product line(s)"."""
    lines = [
        c[len(LINE_PREFIX) :] for c in sorted(row) if c.startswith(LINE_PREFIX) and _num(row, c)
    ]
    if lines:
        names = [label(line, "zh" if zh else "en") for line in lines]
        return "仅使用" + "、".join(names) if zh else "uses only " + ", ".join(names)
    n = _num(row, "n_products")
    if n is None:
        return None
    return f"仅使用{whole(n)}类产品" if zh else f"uses only {whole(n)} product line(s)"


def recommended(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "likely to take up wealth-management (34%)" when the list recommends a product."""
    product = row.get("product")
    if not isinstance(product, str) or not product.strip():
        return None
    name = label(product.strip(), "zh" if zh else "en")
    p = _num(row, "product_probability")
    if p is None:
        return f"适配产品：{name}" if zh else f"suited to {name}"
    return f"{name}适配概率{percent(p)}" if zh else f"likely to take up {name} ({percent(p)})"


def still_active(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "still 45% likely active" (P(alive))."""
    p = _num(row, "probability_alive")
    if p is None:
        return None
    return f"仍有{percent(p)}可能活跃" if zh else f"still {percent(p)} likely active"


def past_business(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "past business 123,456" (total value to date)."""
    total = _num(row, "total_value")
    if total is None:
        return None
    return f"历史交易额{money(total)}" if zh else f"past business {money(total)}"


def last_contact(row: Mapping[str, Any], zh: bool) -> str | None:
    """ "45 days since the last contact", or "no contact on record"."""
    days = _num(row, "days_since_contact")
    if days is None:
        return "无联系记录" if zh else "no contact on record"
    return f"距上次联系{whole(days)}天" if zh else f"{whole(days)} days since the last contact"


def _first(*facts: Fact) -> Fact:
    """The first of ``facts`` that applies."""

    def pick(row: Mapping[str, Any], zh: bool) -> str | None:
        for fact in facts:
            text = fact(row, zh)
            if text:
                return text
        return None

    return pick


#: the facts tried per campaign, in order; the first :data:`MAX_FACTS` that apply are kept
FACTS: dict[str, tuple[Fact, ...]] = {
    "retention": (_first(model_reason, silence), _first(outflow, complaints), churn_risk),
    "growth": (recommended, held_lines, predicted_value),
    "winback": (silence, still_active, past_business),
    "vip_care": (complaints, outflow, last_contact, predicted_value),
}


def client_facts(row: Mapping[str, Any], campaign: str, zh: bool) -> list[str]:
    """The first :data:`MAX_FACTS` facts of :data:`FACTS` ``[campaign]`` that apply to ``row``."""
    found = []
    for fact in FACTS[campaign]:
        text = fact(row, zh)
        if text:
            found.append(text)
        if len(found) == MAX_FACTS:
            break
    return found


def client_reason(
    row: Mapping[str, Any], campaign: str, language: str, texts: Mapping[str, Any]
) -> str:
    """One client's reason in words (module docstring).

    Parameters
    ----------
    row : the client's list row joined with their features, churn and ltv columns.
    campaign : retention, growth, winback or vip_care.
    language : "en" or "zh".
    texts : the campaign's wording in ``language`` (:func:`targeting.wording.campaign_texts`).

    Returns
    -------
    str : e.g. "no transaction for 120 days, 82% churn risk, value tier: preferential rate
        or fee waiver via relationship-manager call".
    """
    zh = language == "zh"
    facts = client_facts(row, campaign, zh)
    tier_code = row.get("value_tier")
    tier = label(str(tier_code), language) if isinstance(tier_code, str) else ""
    channel = dict(texts["channel"]).get(tier_code, "") if isinstance(tier_code, str) else ""
    offer = offer_text(texts["offer"], row.get("product"), language)
    if zh:
        advice = "，".join(t for t in (channel, offer) if t)
        return "，".join([*facts, f"{tier}：{advice}" if tier else advice])
    advice = f"{offer} via {mid_sentence(channel)}" if channel else offer
    return ", ".join([*facts, f"{tier.lower()} tier: {advice}" if tier else advice])


def reason_column(
    rows: pd.DataFrame, campaign: str, language: str, texts: Mapping[str, Any]
) -> pd.Series:
    """:func:`client_reason` for every row of ``rows`` (same index)."""
    records = rows.to_dict("records")
    return pd.Series(
        [client_reason(r, campaign, language, texts) for r in records],
        index=rows.index,
        dtype=object,
    )


def offer_column(rows: pd.DataFrame, language: str, texts: Mapping[str, Any]) -> pd.Series:
    """The ``offer`` column: the campaign's offer, with each row's ``product`` in growth."""
    products = rows["product"] if "product" in rows else pd.Series(None, index=rows.index)
    return pd.Series(
        [offer_text(texts["offer"], p, language) for p in products],
        index=rows.index,
        dtype=object,
    )
