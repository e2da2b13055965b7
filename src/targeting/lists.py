"""Ranking candidates into lists: stopping rules, one campaign per customer, control groups.

For each campaign, in the priority order from params:

1. candidates come from :func:`targeting.campaigns.candidates`, do-not-contact ids removed;
2. they are ranked by ``score`` (ties broken by customer id, so reruns are identical);
3. a candidate stays only if the contact pays: ``expected_value - cost_per_contact >=
   min_expected_return``;
4. customers already on a higher-priority list are removed (counted as overlap);
5. the list is cut so that no relationship manager exceeds ``per_manager``, no branch
   ``per_branch``, and the list ``capacity`` and what ``budget`` pays for
   (:func:`targeting.allocation.allocate`); with ``top_share_per_branch`` only the top share
   of each branch's clients by contribution are candidates;
6. a ``control_share`` of each branch's part of the list is flagged as control by a seeded
   hash of customer id and campaign (:func:`targeting.allocation.branch_control_flags`), so
   reruns give the same control group and each branch's effect can be measured.

Clients without a branch are listed under the branch ``unassigned``, never dropped.

Each row's ``action``, ``channel`` and ``offer`` come from the campaign catalogue
(``targeting.wording``, :mod:`targeting.wording`) and its ``reason`` from the client's own
facts (:mod:`targeting.reasons`), in the report language.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from targeting.allocation import (
    allocate,
    branch_control_flags,
    branch_summary,
    top_share_in_branch,
    with_branches,
)
from targeting.campaigns import CAMPAIGNS, campaign_reasons, candidates
from targeting.reasons import offer_column, reason_column
from targeting.wording import campaign_texts, channels

#: the columns of every list, in order (documented in the README)
LIST_COLUMNS = [
    "rank",
    "customer_id",
    "campaign",
    "branch",
    "branch_name",
    "relationship_manager",
    "score",
    "expected_value",
    "clv",
    "churn_probability",
    "warning_level",
    "value_tier",
    "segment",
    "action",
    "channel",
    "offer",
    "cadence_days",
    "reasons",
    "reason",
    "control",
]

#: the next-best-product columns of the growth list (from data/processed/products.parquet)
PRODUCT_COLUMNS = ["product", "product_probability", "product_value"]


def control_flags(customer_ids: pd.Series, campaign: str, share: float, seed: int) -> np.ndarray:
    """True for the customers held out as control.

    u = first 8 bytes of SHA-256("seed|campaign|customer_id") / 2^64 is uniform on [0, 1) and
    depends on nothing else, so a customer's assignment never changes between reruns;
    control when u < share.
    """

    def uniform(customer_id: str) -> float:
        digest = hashlib.sha256(f"{seed}|{campaign}|{customer_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    values = np.fromiter((uniform(c) for c in customer_ids), dtype=float, count=len(customer_ids))
    return values < share


def branch_tops(population: pd.DataFrame, configured: dict) -> dict[str, pd.Series]:
    """Each branch's top clients for the campaigns with ``top_share_per_branch``.

    Parameters
    ----------
    population : pd.DataFrame
        Every client (not only candidates), branches filled (:func:`with_branches`), with
        ``customer_id`` and ``total_value``.
    configured : dict
        campaign -> its settings.

    Returns
    -------
    dict of str to pd.Series
        campaign -> boolean Series indexed by customer id: in the top share of the
        client's branch by contribution (:func:`targeting.allocation.top_share_in_branch`).
    """
    tops = {}
    for campaign, campaign_settings in configured.items():
        share = (campaign_settings or {}).get("top_share_per_branch")
        if share is not None:
            flags = top_share_in_branch(population, float(share))
            tops[campaign] = pd.Series(flags.to_numpy(), index=population["customer_id"])
    return tops


def campaign_pool(
    table: pd.DataFrame,
    campaign: str,
    campaign_settings: dict,
    context: dict,
    top: pd.Series | None = None,
) -> pd.DataFrame:
    """A campaign's candidates among ``table``'s rows; with ``top`` (the campaign's entry of
    :func:`branch_tops`) only each branch's top share by contribution (for vip_care it
    replaces the national strategic-tier test). With the next-best-product columns, a
    growth candidate must have a recommended product: a client who holds every line is not
    eligible for growth."""
    if top is None:
        pool = candidates(table, campaign, campaign_settings, context)
    else:
        marked = table.assign(branch_top=table["customer_id"].map(top).eq(True))
        pool = candidates(marked, campaign, campaign_settings, context)
        pool = pool[pool["branch_top"]].drop(columns="branch_top")
    if campaign == "growth" and "product" in pool.columns:
        pool = pool[pool["product"].notna()]
    return pool


def build_target_lists(
    table: pd.DataFrame,
    settings: dict,
    context: dict,
    *,
    language: str = "en",
    seed: int = 0,
    do_not_contact: set[str] | frozenset[str] = frozenset(),
    population: pd.DataFrame | None = None,
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Build every configured campaign's ranked list and the metrics that describe them.

    ``table``: one row per customer with features, ltv, churn and segment columns (plus
    ``days_since_contact``); it may hold only the customers some campaign could list.
    ``population``: every client's ``customer_id``, ``total_value`` and branch columns,
    for the client counts and the top share per branch (None: ``table`` is everyone).
    ``settings``: the ``targeting`` params. ``context``: see
    :func:`targeting.campaigns.candidates`. Returns ``({campaign: list}, metrics)``.
    """
    configured = settings.get("campaigns") or {}
    unknown = sorted(set(configured) - set(CAMPAIGNS))
    if unknown:
        raise ValueError(f"targeting.campaigns: unknown campaign(s) {unknown}; known: {CAMPAIGNS}")
    priority = [c for c in settings.get("priority", CAMPAIGNS) if c in configured]
    priority += [c for c in configured if c not in priority]
    share = float(settings.get("control_share", 0.1))

    table, had_branches = with_branches(table)
    population = table if population is None else with_branches(population)[0]
    tops = branch_tops(population, configured)
    assigned: set[str] = set()
    lists: dict[str, pd.DataFrame] = {}
    metrics: dict = {
        "suppressed_total": int(population["customer_id"].isin(do_not_contact).sum()),
        "campaigns": {},
        "branch_columns": had_branches,
        "branches": int(population["branch"].nunique()),
        "unassigned_clients": int((population["branch"] == "unassigned").sum()),
    }

    for campaign in priority:
        campaign_settings = configured[campaign] or {}
        cost = float(campaign_settings.get("cost_per_contact", 0.0))
        floor = float(campaign_settings.get("min_expected_return", 0.0))
        everyone = campaign_pool(table, campaign, campaign_settings, context, tops.get(campaign))
        suppressed = int(everyone["customer_id"].isin(do_not_contact).sum())
        pool = everyone[~everyone["customer_id"].isin(do_not_contact)]
        pool = pool.sort_values(["score", "customer_id"], ascending=[False, True], kind="mergesort")
        pays = pool[(pool["expected_value"] - cost) >= floor]
        already = pays["customer_id"].isin(assigned)
        chosen = allocate(pays.loc[~already], campaign_settings).copy()
        assigned.update(chosen["customer_id"])

        chosen["rank"] = np.arange(1, len(chosen) + 1)
        chosen["campaign"] = campaign
        chosen["segment"] = chosen["rfm_segment"]
        texts = campaign_texts(settings.get("wording"), campaign, language)
        chosen["action"] = texts["action"]
        chosen["channel"] = channels(chosen["value_tier"], texts)
        chosen["offer"] = offer_column(chosen, language, texts)
        chosen["cadence_days"] = chosen["value_tier"].map(context["cadence_days"]).astype("Int64")
        chosen["reasons"] = campaign_reasons(chosen, campaign, language)
        chosen["reason"] = reason_column(chosen, campaign, language, texts)
        chosen["control"] = branch_control_flags(chosen, campaign, share, seed).astype(int)
        for column in ("score", "expected_value", "clv"):
            chosen[column] = chosen[column].round(2)
        chosen["churn_probability"] = chosen["churn_probability"].round(4)
        extra = ["uplift"] if campaign_settings.get("rank_by") == "uplift" else []
        if extra:
            chosen["uplift"] = chosen["uplift"].round(4)
        if campaign == "growth" and "product" in chosen.columns:
            chosen["product_probability"] = chosen["product_probability"].round(4)
            chosen["product_value"] = chosen["product_value"].round(2)
            extra = PRODUCT_COLUMNS + extra
        if "aum_at_risk" in chosen:  # retention with balance snapshots
            extra += ["aum_latest", "aum_at_risk"]
            chosen[["aum_latest", "aum_at_risk"]] = chosen[["aum_latest", "aum_at_risk"]].round(2)
        extra += [c for c in ("outflow_warning", "complaint_warning") if c in chosen]
        lists[campaign] = chosen[LIST_COLUMNS + extra].reset_index(drop=True)

        contacted = chosen["control"] == 0
        metrics["campaigns"][campaign] = {
            "eligible": int(len(pool)),
            "paying": int(len(pays)),
            "rows": int(len(chosen)),
            "contacts": int(contacted.sum()),
            "control": int((~contacted).sum()),
            "suppressed": int(suppressed),
            "overlap_removed": int(already.sum()),
            "expected_value": round(float(chosen.loc[contacted, "expected_value"].sum()), 2),
            "cost": round(float(contacted.sum() * cost), 2),
            "expected_net_return": round(
                float(chosen.loc[contacted, "expected_value"].sum() - contacted.sum() * cost), 2
            ),
        }
    totals = metrics["campaigns"].values()
    metrics["rows_total"] = sum(m["rows"] for m in totals)
    metrics["expected_value_total"] = round(sum(m["expected_value"] for m in totals), 2)
    metrics["cost_total"] = round(sum(m["cost"] for m in totals), 2)
    metrics["overlap_removed_total"] = sum(m["overlap_removed"] for m in totals)
    metrics["by_branch"] = branch_summary(lists)
    return lists, metrics
