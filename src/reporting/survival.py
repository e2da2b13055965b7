"""Kaplan-Meier curves of customer lifetimes by value tier.

Lifetime of customer i, in days from the first transaction: a customer silent for more
than ``inactive_days`` days (``days_since_last > inactive_days``) is lost, with an observed
lifetime ``tenure_days - days_since_last`` (first to last transaction); every other customer
is still active and right-censored at ``tenure_days``. The Kaplan-Meier estimator
(Kaplan & Meier 1958, "Nonparametric estimation from incomplete observations", JASA 53)

    S(t) = prod_{t_j <= t} (1 - d_j / n_j)

with d_j losses at t_j among n_j customers still at risk, is fitted per tier with
``lifelines.KaplanMeierFitter``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from reporting.summary import TIERS


def lifetimes(frame: pd.DataFrame, inactive_days: int) -> pd.DataFrame:
    """``duration_days`` and ``lost`` (event indicator) per customer, as defined above."""
    since = frame["days_since_last"].to_numpy(dtype=float)
    tenure = frame["tenure_days"].to_numpy(dtype=float)
    lost = since > inactive_days
    duration = np.where(lost, tenure - since, tenure)
    return pd.DataFrame({"duration_days": np.maximum(duration, 0.0), "lost": lost})


def km_by_tier(frame: pd.DataFrame, inactive_days: int, points: int = 120) -> pd.DataFrame:
    """Survival curves: columns ``days``, ``survival``, ``group`` (value tier), evaluated on
    a common grid of ``points`` days from 0 to the longest tenure."""
    life = lifetimes(frame, inactive_days)
    horizon = float(frame["tenure_days"].max()) if len(frame) else 0.0
    grid = np.linspace(0.0, horizon, points)
    tiers = frame["value_tier"].astype(str).to_numpy()
    curves = []
    for tier in TIERS:
        mask = tiers == tier
        if not mask.any():
            continue
        fitter = KaplanMeierFitter().fit(
            life["duration_days"][mask], event_observed=life["lost"][mask]
        )
        survival = fitter.survival_function_at_times(grid).to_numpy()
        curves.append(pd.DataFrame({"days": grid, "survival": survival, "group": tier}))
    if not curves:
        return pd.DataFrame(columns=["days", "survival", "group"])
    return pd.concat(curves, ignore_index=True)
