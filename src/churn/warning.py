"""Early-warning levels (预警等级) from the calibrated churn probability.

``red`` when p >= thresholds.red, else ``orange`` when p >= thresholds.orange, else
``yellow`` when p >= thresholds.yellow, else ``none``. With value weighting, *strategic*
clients (the top of the CLV ranking that together hold ``strategic_share`` of the positive
CLV: :func:`kequn.rules.tier_cut`, the segmentation's rule for its strategic tier) are raised one
step: yellow -> orange -> red (red stays red; ``none`` stays ``none``: a strategic client
below every threshold is not at risk).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kequn.rules import positive_values, tier_cut

LEVELS = ("none", "yellow", "orange", "red")


def lapsed_clients(days_since_last: np.ndarray, horizon_days: int) -> np.ndarray:
    """True for clients already silent for longer than the churn horizon.

    By the churn label's own definition (no transaction in a window of ``horizon_days``)
    they have churned already: winning them back is a separate matter from warning the
    active clients at risk, so they get no warning level (``none``) and ``lapsed`` True.
    Clients without any transaction date (NaN) are not lapsed.
    """
    days = np.asarray(days_since_last, dtype=float)
    return np.nan_to_num(days, nan=-1.0) > int(horizon_days)


def check_thresholds(thresholds: dict) -> dict[str, float]:
    """``{red, orange, yellow}`` as floats in (0, 1], red >= orange >= yellow."""
    try:
        values = {k: float(thresholds[k]) for k in ("red", "orange", "yellow")}
    except (KeyError, TypeError, ValueError):
        raise ValueError("churn.thresholds needs numeric red, orange and yellow") from None
    if not 0 < values["yellow"] <= values["orange"] <= values["red"] <= 1:
        raise ValueError(
            f"churn.thresholds must satisfy 0 < yellow <= orange <= red <= 1: {values}"
        )
    return values


def warning_levels(
    probability: np.ndarray,
    thresholds: dict,
    strategic: np.ndarray | None = None,
    lapsed: np.ndarray | None = None,
) -> np.ndarray:
    """Level code per customer; ``strategic`` (bool, optional) raises those clients a step;
    ``lapsed`` (bool, optional) clients get ``none``: warnings grade the active clients."""
    t = check_thresholds(thresholds)
    p = np.asarray(probability, dtype=float)
    step = (p >= t["yellow"]).astype(int) + (p >= t["orange"]) + (p >= t["red"])
    if strategic is not None:
        step = np.where(
            np.asarray(strategic, dtype=bool) & (step > 0), np.minimum(step + 1, 3), step
        )
    if lapsed is not None:
        step = np.where(np.asarray(lapsed, dtype=bool), 0, step)
    return np.asarray(LEVELS, dtype=object)[step]


def strategic_clients(clv: pd.Series, strategic_share: float = 0.5) -> np.ndarray:
    """True for the strategic clients: positive CLV at or above
    :func:`kequn.rules.tier_cut` ``(clv, strategic_share)``, the segmentation's rule for its
    strategic tier (the client whose CLV crosses the share is included; equal CLVs share
    the flag)."""
    value = pd.to_numeric(clv, errors="coerce").to_numpy(dtype=float)
    return strategic_by_cut(value, tier_cut(value, strategic_share))


def strategic_by_cut(clv: Any, threshold: float) -> np.ndarray:
    """The strategic flag of clients given the population's cut (a chunk at a time)."""
    value = positive_values(pd.to_numeric(pd.Series(np.asarray(clv)), errors="coerce"))
    return (value > 0) & (value >= threshold)
