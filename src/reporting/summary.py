"""The report's figures: pure functions of the per-customer frame and the metrics JSON.

The per-customer frame is :meth:`reporting.inputs.RunOutputs.customer_frame` (features +
``clv`` + ``churn_probability`` / ``warning_level`` + segments). Definitions:

- active customer: a transaction in the last ``active_days`` days (``days_since_last <=
  active_days``; the churn horizon by default);
- value concentration: the smallest share of customers whose value makes 80 % of the
  positive value (:func:`segmentation.value_tiers.concentration`, on the tiers' value basis
  ``tier_value``, or ``clv`` when the segments are missing);
- value at risk: sum_i clv_i * churn_probability_i, the value expected to leave with the
  customers who churn (clv as predicted for the horizon).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from kequn.log import get_logger
from segmentation.value_tiers import concentration

log = get_logger("report")

TIERS = ("strategic", "value", "basic")
WARNING_LEVELS = ("red", "orange", "yellow", "none")
CAMPAIGNS = ("vip_care", "retention", "winback", "growth")
LTV_METRICS = ("mae_value", "value_error", "spearman", "gini")
CHURN_METRICS = ("roc_auc", "pr_auc", "brier")


def lookup(metrics: Mapping[str, Any], dotted: str, source: str = "metrics") -> Any:
    """``metrics['a']['b']`` for ``'a.b'``; None (and a warning naming the key) if absent."""
    value: Any = metrics
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            log.warning("%s: key %s not found; shown as n/a", source, dotted)
            return None
        value = value[key]
    return value


def _sum(frame: pd.DataFrame, column: str) -> float | None:
    return float(frame[column].sum()) if column in frame else None


def value_basis(frame: pd.DataFrame) -> pd.Series | None:
    """The value the tiers are cut on (``tier_value``), else ``clv``, else None."""
    for column in ("tier_value", "clv"):
        if column in frame:
            return frame[column].astype(float)
    return None


def executive_summary(
    frame: pd.DataFrame,
    metrics: Mapping[str, Mapping[str, Any]],
    *,
    active_days: int = 90,
) -> dict[str, Any]:
    """The numbers a manager quotes (None where an input is missing)."""
    n = len(frame)
    active = (
        int((frame["days_since_last"] <= active_days).sum()) if "days_since_last" in frame else None
    )
    basis = value_basis(frame)
    share_80 = concentration(basis.to_numpy(), 0.8) if basis is not None and n else None
    total_clv = _sum(frame, "clv")
    at_risk = None
    if {"clv", "churn_probability"} <= set(frame.columns):
        at_risk = float((frame["clv"] * frame["churn_probability"]).sum())
    warnings = None
    if "warning_level" in frame:
        counts = frame["warning_level"].value_counts()
        warnings = {level: int(counts.get(level, 0)) for level in WARNING_LEVELS}
    changes = None
    if "tier_change" in frame:
        counts = frame["tier_change"].value_counts()
        changes = {k: int(counts.get(k, 0)) for k in ("upgrade", "downgrade", "same", "new")}
    targets = metrics.get("targets") or {}
    campaigns = targets.get("campaigns") or {}
    if targets:
        net = [c.get("expected_net_return") for c in campaigns.values()]
        contacts = [c.get("contacts") for c in campaigns.values()]
        target_summary = {
            "lists": sum(1 for c in campaigns.values() if (c.get("rows") or 0) > 0),
            "rows": lookup(targets, "rows_total", "targets.json"),
            "contacts": sum(contacts) if None not in contacts else None,
            "expected_value": lookup(targets, "expected_value_total", "targets.json"),
            "cost": lookup(targets, "cost_total", "targets.json"),
            "expected_net_return": sum(net) if net and None not in net else None,
        }
    else:
        log.warning("targets.json missing or empty: target lists shown as n/a")
        target_summary = dict.fromkeys(
            ("lists", "rows", "contacts", "expected_value", "cost", "expected_net_return")
        )
    churn = metrics.get("churn") or {}
    at_risk_active = churn.get("active_at_risk")
    return {
        "customers": n,
        "lapsed_clients": churn.get("lapsed_clients"),
        "active_clients": churn.get("active_clients"),
        "active_at_risk": sum(at_risk_active.values()) if at_risk_active else None,
        "active_customers": active,
        "active_share": active / n if active is not None and n else None,
        "active_days": active_days,
        "customer_share_for_80pct_value": share_80,
        "total_clv": total_clv,
        "value_at_risk": at_risk,
        "value_at_risk_share": at_risk / total_clv if at_risk is not None and total_clv else None,
        "warning_levels": warnings,
        "tier_changes": changes,
        "targets": target_summary,
    }


def tier_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per value tier: customers, share of customers, positive value, share of value."""
    basis = value_basis(frame)
    positive = np.clip(np.nan_to_num(basis.to_numpy(), nan=0.0), 0.0, None)
    total = positive.sum()
    tiers = frame["value_tier"].astype(str).to_numpy()
    rows = []
    for tier in TIERS:
        mask = tiers == tier
        rows.append(
            {
                "value_tier": tier,
                "customers": int(mask.sum()),
                "customer_share": mask.mean() if len(mask) else 0.0,
                "value": float(positive[mask].sum()),
                "value_share": float(positive[mask].sum() / total) if total > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows)


def warnings_by_tier(frame: pd.DataFrame) -> pd.DataFrame:
    """Share of each tier's customers at each warning level (rows: tiers; columns: levels)
    plus the tier's mean churn probability."""
    shares = pd.crosstab(frame["value_tier"], frame["warning_level"], normalize="index")
    shares = shares.reindex(index=list(TIERS), columns=list(WARNING_LEVELS)).fillna(0.0)
    mean = frame.groupby("value_tier")["churn_probability"].mean().reindex(list(TIERS))
    return shares.assign(mean_churn_probability=mean)


def rfm_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers by recency score (rows 5..1) and frequency score (columns 1..5)."""
    grid = pd.crosstab(frame["r_score"].astype(int), frame["f_score"].astype(int))
    return grid.reindex(index=[5, 4, 3, 2, 1], columns=[1, 2, 3, 4, 5]).fillna(0).astype(int)


def rejects_by_reason(ingest: Mapping[str, Any], rejects: pd.DataFrame | None) -> pd.Series:
    """Rows rejected per reason (zeros dropped, largest first): from ``ingest.json``, or
    counted from ``rejects.csv`` when the metrics are missing."""
    by_reason = ingest.get("rejected_by_reason") if ingest else None
    if by_reason:
        counts = pd.Series(by_reason, dtype="int64")
    elif rejects is not None and "reason" in rejects:
        counts = rejects["reason"].value_counts().astype("int64")
    else:
        return pd.Series(dtype="int64")
    counts = counts[counts > 0]
    return counts.sort_values(ascending=False, kind="stable")


def ltv_model_table(ltv: Mapping[str, Any]) -> pd.DataFrame:
    """Every LTV candidate's backtest metrics (+ the past-value baseline); ``chosen`` flag."""
    rows = dict(ltv.get("backtest") or {})
    baseline = (ltv.get("baselines") or {}).get("past_value_repeats")
    if baseline:
        rows["past_value_repeats"] = baseline
    chosen = ltv.get("model")
    table = pd.DataFrame(
        [
            {"model": name, **{k: (m or {}).get(k) for k in LTV_METRICS}, "chosen": name == chosen}
            for name, m in rows.items()
        ],
        columns=["model", *LTV_METRICS, "chosen"],
    )
    return table


def churn_model_table(churn: Mapping[str, Any]) -> pd.DataFrame:
    """Every churn candidate's calibrated backtest metrics; ``chosen`` flag."""
    chosen = churn.get("chosen")
    rows = []
    for name, m in (churn.get("backtest") or {}).items():
        scores = (m or {}).get("calibrated") or m or {}
        rows.append(
            {"model": name, **{k: scores.get(k) for k in CHURN_METRICS}, "chosen": name == chosen}
        )
    return pd.DataFrame(rows, columns=["model", *CHURN_METRICS, "chosen"])


CAMPAIGN_COLUMNS = (
    "rows",
    "contacts",
    "control",
    "expected_value",
    "cost",
    "expected_net_return",
    "suppressed",
    "overlap_removed",
)


def campaign_table(targets: Mapping[str, Any]) -> pd.DataFrame:
    """One row per campaign in ``targets.json`` (known campaigns first), columns
    :data:`CAMPAIGN_COLUMNS` (None where a key is missing)."""
    campaigns = targets.get("campaigns") or {}
    order = [c for c in CAMPAIGNS if c in campaigns] + [c for c in campaigns if c not in CAMPAIGNS]
    rows = []
    for name in order:
        values = campaigns[name] or {}
        for key in CAMPAIGN_COLUMNS:
            if key not in values:
                log.warning("targets.json: campaigns.%s.%s not found; shown as n/a", name, key)
        rows.append({"campaign": name, **{k: values.get(k) for k in CAMPAIGN_COLUMNS}})
    return pd.DataFrame(rows, columns=["campaign", *CAMPAIGN_COLUMNS])


#: the branch table shows this many branches (most contacts first); the rest are summed
BRANCH_ROWS = 15


def branch_table(targets: Mapping[str, Any], top: int = BRANCH_ROWS) -> pd.DataFrame:
    """The list x branch summary of ``targets.json`` (``by_branch``): one row per branch with
    the contacts of each campaign, all contacts and their expected value.

    Parameters
    ----------
    targets : targets.json; ``by_branch`` holds one record per (campaign, branch) with
        ``branch, branch_name, contacts, expected_value``.
    top : branches shown, most contacts first (ties by branch code); the others are summed
        into one last row whose ``branch`` is ``None`` and ``branch_name`` their count.

    Returns
    -------
    pd.DataFrame : ``branch, branch_name, <campaign>..., contacts, expected_value``; empty
        without ``by_branch``.
    """
    records = pd.DataFrame(targets.get("by_branch") or [])
    if records.empty:
        return pd.DataFrame(columns=["branch", "branch_name", "contacts", "expected_value"])
    present = set(records["campaign"])
    order = [c for c in CAMPAIGNS if c in present] + sorted(present - set(CAMPAIGNS))
    keys = ["branch", "branch_name"]
    wide = records.pivot_table(
        index=keys, columns="campaign", values="contacts", aggfunc="sum", fill_value=0
    ).reindex(columns=order, fill_value=0)
    wide["contacts"] = wide.sum(axis=1)
    wide["expected_value"] = records.groupby(keys)["expected_value"].sum()
    wide = wide.reset_index().sort_values(["contacts", "branch"], ascending=[False, True])
    shown, rest = wide.iloc[:top], wide.iloc[top:]
    if len(rest):
        other = {"branch": None, "branch_name": len(rest)}
        other.update({c: rest[c].sum() for c in [*order, "contacts", "expected_value"]})
        shown = pd.concat([shown, pd.DataFrame([other])], ignore_index=True)
    shown.columns.name = None
    return shown.reset_index(drop=True)
