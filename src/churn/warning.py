"""Early-warning levels (预警等级) from the calibrated churn probability.

``red`` when p >= thresholds.red, else ``orange`` when p >= thresholds.orange, else
``yellow`` when p >= thresholds.yellow, else ``none``. With value weighting, *strategic*
clients (the top of the CLV ranking that together hold ``strategic_share`` of the positive
CLV, the same cumulative-value rule as the segmentation's strategic tier) are raised one
step: yellow -> orange -> red (red stays red; ``none`` stays ``none``: a strategic client
below every threshold is not at risk).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    """True for the highest-CLV clients that together hold ``strategic_share`` of positive CLV.

    A client is strategic when the CLV of everyone ranked above them is less than the share
    (so the client who crosses the line is included). Ties are ranked by position.
    """
    value = pd.to_numeric(clv, errors="coerce").fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    total = value.sum()
    if total <= 0:
        return np.zeros(len(value), dtype=bool)
    order = np.argsort(-value, kind="mergesort")
    above = np.concatenate([[0.0], np.cumsum(value[order])[:-1]]) / total
    strategic = np.zeros(len(value), dtype=bool)
    strategic[order] = (above < strategic_share) & (value[order] > 0)
    return strategic


def strategic_cut(clv: pd.Series, strategic_share: float = 0.5) -> tuple[float, int]:
    """:func:`strategic_clients` as a rule that can be applied chunk by chunk.

    The strategic clients are a prefix of the clients ranked by CLV (descending, ties by
    position), so they are exactly: every client with CLV above ``threshold`` (the smallest
    strategic CLV) and the first ``ties`` clients, in row order, whose CLV equals it.
    Returns ``(threshold, ties)``; ``(inf, 0)`` when nobody is strategic.
    """
    value = pd.to_numeric(clv, errors="coerce").fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    strategic = strategic_clients(clv, strategic_share)
    if not strategic.any():
        return float("inf"), 0
    threshold = float(value[strategic].min())
    return threshold, int((strategic & (value == threshold)).sum())


def strategic_by_cut(
    clv: pd.Series, threshold: float, ties: int, ties_seen: int = 0
) -> tuple[np.ndarray, int]:
    """Apply ``(threshold, ties)`` of :func:`strategic_cut` to one chunk of clients.

    ``ties_seen``: clients with CLV equal to the threshold already marked in earlier chunks.
    Returns the chunk's strategic flags and the number of tied clients marked in it.
    """
    value = pd.to_numeric(clv, errors="coerce").fillna(0.0).clip(lower=0.0).to_numpy(dtype=float)
    tied = value == threshold
    marked = tied & (np.cumsum(tied) + int(ties_seen) <= int(ties))
    return (value > threshold) | marked, int(marked.sum())
