"""Who each campaign wants, and what contacting them is expected to be worth.

Every campaign turns a customer table (features joined with ltv, churn and segment labels)
into candidates with a ``score`` (what the list is ranked on) and an ``expected_value``
(the money a contact is expected to bring, in the same units as CLV):

``expected_value = response_rate * value``

where ``value`` is the campaign's value at stake for that customer:

- retention (挽留): warning level red or orange, or (with balance snapshots) an asset-outflow
  warning red or orange; value = value at risk = CLV x P(churn). With balance snapshots
  (an ``aum_latest`` column) the list is ranked by the assets at risk,
  ``aum_at_risk = AUM x P(churn)``: what the bank keeps by keeping the client (clients
  without a snapshot rank last, by CLV x P(churn)), unless the list is ranked by uplift
  (below): the learnt incremental value is in CLV units, netted against the contact cost.
- growth (提升): not strategic, at most ``max_products`` product lines, low churn risk
  (warning none or yellow); value = CLV x (1 - P(churn)), the value a next-tier move builds on;
  ranked by that value scaled by the room left in product lines.
- winback (唤醒): no transaction for ``lapsed_days`` but P(alive) >= ``min_probability_alive``;
  value = the margin they used to bring per horizon (historic value per day x horizon x
  margin) x P(alive) -- high past value with a fair chance of still being there.
- vip_care (重点维护): strategic tier (or, with ``top_share_per_branch``, the top share of
  the client's own branch by contribution), due for a relationship-manager contact: days
  since the last contact at least the tier's cadence, or no contact on record; value = CLV.

With ``rank_by: uplift`` (set by the targets stage when the evaluate stage's uplift model
won its backtest for that campaign) and an ``uplift`` column (predicted incremental
response), ``expected_value = uplift * value`` and the list is ranked by
``expected_value - cost_per_contact``.
"""

from __future__ import annotations

import pandas as pd

CAMPAIGNS = ("retention", "growth", "winback", "vip_care")


def _value_at_stake(
    customers: pd.DataFrame, campaign: str, settings: dict, context: dict
) -> pd.Series:
    clv = customers["clv"].clip(lower=0.0)
    p_churn = customers["churn_probability"]
    if campaign == "retention":
        return clv * p_churn
    if campaign == "growth":
        return clv * (1.0 - p_churn)
    if campaign == "winback":
        days_active = customers["tenure_days"].clip(lower=1.0)
        per_day = customers["total_value"].clip(lower=0.0) / days_active
        return (
            per_day * context["horizon_days"] * customers["margin"] * customers["probability_alive"]
        )
    if campaign == "vip_care":
        return clv
    raise ValueError(f"unknown campaign {campaign!r}; expected one of {CAMPAIGNS}")


def _eligible(customers: pd.DataFrame, campaign: str, settings: dict, context: dict) -> pd.Series:
    level = customers["warning_level"]
    tier = customers["value_tier"]
    if campaign == "retention":
        urgent = level.isin(["red", "orange"])
        if "outflow_warning" in customers:
            urgent |= customers["outflow_warning"].isin(["red", "orange"])
        return urgent
    if campaign == "growth":
        n_products = customers.get("n_products", pd.Series(1, index=customers.index))
        return (
            (tier != "strategic")
            & (n_products <= settings.get("max_products", 2))
            & level.isin(["none", "yellow"])
        )
    if campaign == "winback":
        return (customers["days_since_last"] >= settings.get("lapsed_days", 180)) & (
            customers["probability_alive"] >= settings.get("min_probability_alive", 0.2)
        )
    if campaign == "vip_care":
        cadence = tier.map(context["cadence_days"]).astype(float)
        since_contact = customers["days_since_contact"]
        # with top_share_per_branch, "high-end" is the top of the client's own branch
        high_end = customers["branch_top"] if "branch_top" in customers else tier == "strategic"
        return high_end.astype(bool) & (since_contact.isna() | (since_contact >= cadence))
    raise ValueError(f"unknown campaign {campaign!r}; expected one of {CAMPAIGNS}")


def candidates(
    customers: pd.DataFrame, campaign: str, settings: dict, context: dict
) -> pd.DataFrame:
    """Eligible customers of ``campaign`` with ``score``, ``value_at_stake`` and ``expected_value``.

    ``context`` holds what is shared by campaigns: ``horizon_days`` (CLV horizon in days),
    ``cadence_days`` (tier -> days between contacts).
    """
    eligible = _eligible(customers, campaign, settings, context)
    chosen = customers.loc[eligible].copy()
    value = _value_at_stake(chosen, campaign, settings, context)
    chosen["value_at_stake"] = value.astype(float)
    chosen["expected_value"] = float(settings.get("response_rate", 0.1)) * chosen["value_at_stake"]
    if campaign == "growth":
        max_products = float(settings.get("max_products", 2))
        room = (max_products + 1.0 - chosen.get("n_products", 1)).clip(lower=1.0) / max_products
        chosen["score"] = chosen["value_at_stake"] * room
    elif campaign == "retention" and "aum_latest" in chosen:
        chosen["aum_at_risk"] = chosen["aum_latest"].clip(lower=0.0) * chosen["churn_probability"]
        # without a snapshot: below every client with assets, in CLV x P(churn) order
        fallback = chosen["value_at_stake"].rank(pct=True) - 1.0
        chosen["score"] = chosen["aum_at_risk"].fillna(fallback)
    else:
        chosen["score"] = chosen["value_at_stake"]
    if settings.get("rank_by") == "uplift" and "uplift" in chosen:
        # evaluate stage's uplift model: predicted incremental response x value, net of cost
        chosen["expected_value"] = chosen["uplift"].fillna(0.0) * chosen["value_at_stake"]
        chosen["score"] = chosen["expected_value"] - float(settings.get("cost_per_contact", 0.0))
    chosen["score"] = chosen["score"].fillna(0.0)
    chosen["expected_value"] = chosen["expected_value"].fillna(0.0)
    return chosen


def _whole(values: pd.Series) -> pd.Series:
    return values.fillna(0).round(0).astype("int64").astype(str)


def _percent(values: pd.Series) -> pd.Series:
    return _whole(values * 100) + "%"


def campaign_reasons(chosen: pd.DataFrame, campaign: str, language: str) -> pd.Series:
    """Up to three plain-word reasons per listed customer, in ``language`` ("en" or "zh").

    The first says why the campaign wants the customer, with their own numbers; for
    retention and win-back the churn stage's per-customer reasons follow.
    """
    zh = language == "zh"
    if campaign == "retention":
        lead = (
            "预计价值"
            + _whole(chosen["clv"])
            + "，流失概率"
            + _percent(chosen["churn_probability"])
            if zh
            else "predicted value "
            + _whole(chosen["clv"])
            + ", churn risk "
            + _percent(chosen["churn_probability"])
        )
    elif campaign == "growth":
        n = _whole(chosen["n_products"])
        lead = (
            "预计价值" + _whole(chosen["clv"]) + "，仅持有" + n + "类产品"
            if zh
            else "predicted value " + _whole(chosen["clv"]) + ", only " + n + " product line(s)"
        )
    elif campaign == "winback":
        days, alive = _whole(chosen["days_since_last"]), _percent(chosen["probability_alive"])
        lead = (
            "已" + days + "天无交易，仍有" + alive + "可能活跃"
            if zh
            else "no transaction for " + days + " days, still " + alive + " likely active"
        )
    else:
        since = _whole(chosen["days_since_contact"])
        lead = (
            "战略客户，距上次联系" + since + "天"
            if zh
            else "strategic client, " + since + " days since the last contact"
        )
        never = "战略客户，无联系记录" if zh else "strategic client, no contact on record"
        lead = lead.where(chosen["days_since_contact"].notna(), never)
    sep = "；" if zh else "; "
    column = f"reasons_{language}"
    if campaign in ("retention", "winback") and column in chosen:
        extra = chosen[column].fillna("").astype(str)
        lead = lead.where(extra == "", lead + sep + extra)
    return lead.str.split(sep).str[:3].str.join(sep)
