"""Synthetic per-customer tables for tests and benchmarks (no real data, known groups).

:func:`synthetic_customers` draws customers from a few well separated behavioural groups
(the generative truth a clustering should recover) with the columns the segment stage
reads: features, ``clv`` and ``churn_probability`` already joined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: group -> (days_since_last mean, repeat days mean, value per day (lognormal mu),
#:           tenure days mean, mobile share, deposit share, loan share, churn probability)
GROUPS = {
    "vip_mobile_loyal": (5, 60, 8.0, 1500, 0.9, 0.7, 0.2, 0.05),
    "branch_occasional": (120, 3, 5.0, 1200, 0.1, 0.8, 0.1, 0.4),
    "new_mobile": (10, 2, 5.5, 60, 0.8, 0.3, 0.1, 0.3),
    "dormant_loan": (400, 8, 6.0, 2000, 0.3, 0.1, 0.8, 0.85),
}


def synthetic_customers(n: int, seed: int = 0, groups: dict | None = None) -> pd.DataFrame:
    """``n`` customers drawn evenly from ``groups``; column ``true_group`` holds the truth."""
    groups = groups or GROUPS
    rng = np.random.default_rng(seed)
    names = np.array(list(groups))
    spec = np.array(list(groups.values()), dtype="float64")
    group = rng.integers(0, len(names), size=n)
    p = spec[group]
    days_since_last = np.rint(rng.gamma(4.0, p[:, 0] / 4.0)).astype(np.int64)
    frequency = rng.poisson(p[:, 1])
    tenure = np.rint(rng.gamma(6.0, p[:, 3] / 6.0)).astype(np.int64) + days_since_last + 1
    per_day = rng.lognormal(p[:, 2], 0.6)
    total_value = per_day * (frequency + 1)
    mobile = np.clip(p[:, 4] + rng.normal(0, 0.08, n), 0, 1)
    deposit = np.clip(p[:, 5] + rng.normal(0, 0.08, n), 0, 1)
    loan = np.clip(p[:, 6] + rng.normal(0, 0.08, n), 0, 1 - deposit)
    churn = np.clip(p[:, 7] + rng.normal(0, 0.05, n), 0, 1)
    gap = np.where(frequency > 0, (tenure - days_since_last) / np.maximum(frequency, 1), np.nan)
    return pd.DataFrame(
        {
            "customer_id": ("C" + pd.Series(np.arange(n)).astype(str).str.zfill(7)).astype(
                "string"
            ),
            "frequency": frequency.astype("float64"),
            "days_since_last": days_since_last.astype("float64"),
            "tenure_days": tenure.astype("float64"),
            "recency": (tenure - days_since_last) / 7.0,
            "T": tenure / 7.0,
            "total_value": total_value,
            "mean_value": per_day,
            "gap_mean_days": gap,
            "share_product_存款": deposit,
            "share_product_贷款": loan,
            "share_product_理财": 1 - deposit - loan,
            "share_channel_mobile": mobile,
            "share_channel_branch": 1 - mobile,
            "asset_balance": total_value * rng.lognormal(1.0, 0.5, n),
            "clv": total_value * (1 - churn) * 0.3,
            "churn_probability": churn,
            "true_group": names[group],
        }
    )
