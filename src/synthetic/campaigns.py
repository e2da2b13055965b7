"""A past campaign with a randomized control group and known heterogeneous effects.

Planted on top of a generated extract (:func:`synthetic.bank.generate`): on
``contact_date`` a retention campaign lists ``listed`` clients who transacted before it; a
seeded share ``control_share`` is held out as control. Each listed client has one of four
uplift types, decided by what they did before the contact date (so a model over those
features can learn them):

========================  =====================================  ======  ======
type                      rule (in this order)                   P(y|0)  P(y|1)
========================  =====================================  ======  ======
do_not_disturb            corporate client, last txn <= 180 d     0.40    0.20
sure_thing                last transaction <= 30 days before      0.55    0.55
persuadable               last transaction 31-180 days before     0.10    0.35
lost_cause                otherwise                              0.02    0.02
========================  =====================================  ======  ======

The outcome ``responded`` is drawn from P(y | arm) with one uniform per client shared by
both arms (potential outcomes), and a responder's ``revenue`` is a Gamma draw with mean
the client's true mean spend. Written: ``responses.csv`` (UTF-8, read through
``mappings/sample_responses.yaml``) and ``true_campaign.parquet`` (type, both potential
outcomes and the true uplift of every listed client). The transactions are not changed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from kequn import io as kio

CAMPAIGN = "retention_2025q3"
GROUPS = {"control": "对照组", "treatment": "营销组"}
HEADER = {
    "customer_id": "客户号",
    "campaign": "活动编号",
    "group": "组别",
    "contact_date": "接触日期",
    "responded": "是否响应",
    "revenue": "贡献收入",
}
#: uplift type -> (P(respond | control), P(respond | treated))
RATES = {
    "do_not_disturb": (0.40, 0.20),
    "sure_thing": (0.55, 0.55),
    "persuadable": (0.10, 0.35),
    "lost_cause": (0.02, 0.02),
}


@dataclasses.dataclass(frozen=True)
class CampaignTruth:
    """Parameters of the planted campaign."""

    campaign: str = CAMPAIGN
    contact_date: str = "2025-09-01"
    listed: int = 12_000
    control_share: float = 0.3
    seed: int = 20250901


def uplift_types(recency_days: np.ndarray, corporate: np.ndarray) -> np.ndarray:
    """The uplift type of each client from days since their last transaction before the
    contact date and whether they are a corporate client (rules in the module docstring)."""
    return np.select(
        [corporate & (recency_days <= 180), recency_days <= 30, recency_days <= 180],
        ["do_not_disturb", "sure_thing", "persuadable"],
        "lost_cause",
    )


def plant_campaign(
    transactions: pd.DataFrame, customers: pd.DataFrame, truth: CampaignTruth | None = None
) -> pd.DataFrame:
    """Draw the campaign: one row per listed client with arm, type and potential outcomes.

    Parameters
    ----------
    transactions : DataFrame
        The clean generated transactions (``customer_id, date, status``).
    customers : DataFrame
        The per-customer truth (``customer_id, client_type, mean_spend``).
    truth : CampaignTruth

    Returns
    -------
    DataFrame
        ``customer_id, campaign, arm, contact_date, uplift_type, recency_days, p0, p1,
        y0, y1, responded, revenue, true_uplift`` (``true_uplift = p1 - p0``).
    """
    truth = truth or CampaignTruth()
    rng = np.random.default_rng(truth.seed)
    contact = pd.Timestamp(truth.contact_date)
    before = transactions[(transactions["date"] < contact) & (transactions["status"] == "正常")]
    last = before.groupby("customer_id")["date"].max()
    pool = np.sort(last.index.to_numpy())
    listed = np.sort(rng.choice(pool, size=min(truth.listed, len(pool)), replace=False))
    recency = (contact - last.loc[listed]).dt.days.to_numpy()
    info = customers.set_index("customer_id").loc[listed]
    kinds = uplift_types(recency, info["client_type"].to_numpy() == "对公")
    p0 = np.array([RATES[k][0] for k in kinds])
    p1 = np.array([RATES[k][1] for k in kinds])
    control = rng.random(len(listed)) < truth.control_share
    u = rng.random(len(listed))
    y0, y1 = u < p0, u < p1
    responded = np.where(control, y0, y1)
    spend = info["mean_spend"].to_numpy()
    revenue = np.where(responded, np.round(rng.gamma(2.0, spend / 2.0), 2), 0.0)
    return pd.DataFrame(
        {
            "customer_id": listed,
            "campaign": truth.campaign,
            "arm": np.where(control, "control", "treatment"),
            "contact_date": contact,
            "uplift_type": kinds,
            "recency_days": recency,
            "p0": p0,
            "p1": p1,
            "y0": y0,
            "y1": y1,
            "responded": responded.astype(int),
            "revenue": revenue,
            "true_uplift": p1 - p0,
        }
    )


def write_campaign(campaign: pd.DataFrame, out_dir) -> None:
    """Write ``responses.csv`` (the CRM export) and ``true_campaign.parquet`` (the truth)."""
    out = Path(out_dir)
    export = pd.DataFrame(
        {
            HEADER["customer_id"]: campaign["customer_id"],
            HEADER["campaign"]: campaign["campaign"],
            HEADER["group"]: campaign["arm"].map(GROUPS),
            HEADER["contact_date"]: campaign["contact_date"].dt.strftime("%Y%m%d"),
            HEADER["responded"]: np.where(campaign["responded"] == 1, "是", "否"),
            HEADER["revenue"]: [f"{v:,.2f}" for v in campaign["revenue"]],
        }
    )
    kio.write_csv(out / "responses.csv", export)
    kio.write_parquet(out / "true_campaign.parquet", campaign)
