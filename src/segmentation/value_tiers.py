"""Value tiers (价值分层) on the Pareto curve of customer value, and the concentration figure.

Sort customers by value, largest first, and let ``C(v)`` be the share of the total value held
by customers whose value is *strictly greater* than ``v`` (the value "before" a customer on
the Pareto curve). With cumulative tier shares ``s_strategic = 0.5`` and ``s_value = 0.3``:

- strategic: ``C(v) < s_strategic``                -- needed to make the top 50 % of value
- value:     ``s_strategic <= C(v) < s_strategic + s_value``  -- the next 30 %
- basic:     everyone else.

So with values 50, 30, 10, 5, 5 (total 100) the values before each customer are 0, 50, 80,
90, 90 %: one strategic customer (50 alone makes the top half), one value customer (30
makes the next 30 %), three basic customers. The customer whose value crosses a boundary is
included in the higher tier: the tier is the smallest set of top customers that reaches
its share.

Ties: customers with the same value always share a tier (``C`` only counts *strictly*
greater values), so a tier never depends on the order of equal rows.

Zero, negative and missing values: the curve is built on the positive values only (a
Pareto curve needs a non-decreasing cumulative share; netting losses against gains would
let cumulative shares exceed 1). A customer whose value is zero, negative or missing has
``C(v) = 1`` and is basic; how many there are and what the negative values sum to is
reported beside the figures. When no customer has a positive value everyone is basic.

The concentration figure ("80/20"): the smallest share of customers (of *all* customers,
including those with no positive value) whose values together make at least 80 % of the
positive value (Juran's Pareto principle; Lorenz-curve reading of concentration).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kequn.errors import UserError
from kequn.rules import SHARE_TOL, positive_values, tier_cut

TIERS = ("strategic", "value", "basic")


def check_tier_shares(shares: dict) -> tuple[float, float]:
    """Validate ``segmentation.tier_shares`` and return ``(strategic, value)``."""
    try:
        strategic = float(shares["strategic"])
        value = float(shares["value"])
    except (KeyError, TypeError, ValueError):
        raise UserError(
            "params.yaml: segmentation.tier_shares needs numbers 'strategic' and 'value', "
            f"got {shares!r}"
        ) from None
    if not (0 < strategic and 0 <= value and strategic + value <= 1):
        raise UserError(
            "params.yaml: segmentation.tier_shares must satisfy 0 < strategic and "
            f"strategic + value <= 1, got strategic={strategic}, value={value}"
        )
    return strategic, value


def assign_value_tiers(values: pd.Series | np.ndarray, shares: dict) -> np.ndarray:
    """Tier code per customer (``strategic`` / ``value`` / ``basic``), see the module doc:
    the cuts of :func:`kequn.rules.tier_cut` at ``s_strategic`` and ``s_strategic + s_value``.
    """
    strategic, value = check_tier_shares(shares)
    return tiers_from_cuts(values, tier_cut(values, strategic), tier_cut(values, strategic + value))


def concentration(values: pd.Series | np.ndarray, value_share: float = 0.8) -> float:
    """Smallest share of all customers whose values together make ``value_share`` of value.

    Values 50, 30, 10, 5, 5: the top two make 80 % -> 2 / 5 = 0.4. NaN when nobody has a
    positive value.
    """
    pos = positive_values(values)
    total = pos.sum()
    if len(pos) == 0 or total <= 0:
        return float("nan")
    cumulative = np.cumsum(np.sort(pos)[::-1])
    needed = int(np.searchsorted(cumulative, value_share * total * (1 - SHARE_TOL))) + 1
    return min(needed, len(pos)) / len(pos)


def value_share_of_top(values: pd.Series | np.ndarray, customer_share: float = 0.2) -> float:
    """Share of positive value held by the top ``customer_share`` of customers (rounded down)."""
    pos = positive_values(values)
    total = pos.sum()
    if len(pos) == 0 or total <= 0:
        return float("nan")
    top = int(np.floor(customer_share * len(pos) + SHARE_TOL))
    return float(np.sort(pos)[::-1][:top].sum() / total)


def pareto_curve(values: pd.Series | np.ndarray, max_points: int = 500) -> pd.DataFrame:
    """The Pareto (cumulative value) curve, downsampled to at most ``max_points`` points.

    Columns ``share_of_customers`` (top k / n) and ``share_of_value`` (their share of the
    positive value); starts at (0, 0) and ends at (1, 1) (or (1, 0) when no value is
    positive). Points are taken at evenly spaced customer counts, so the curve keeps its
    shape.
    """
    pos = positive_values(values)
    n = len(pos)
    total = pos.sum()
    cumulative = np.concatenate(([0.0], np.cumsum(np.sort(pos)[::-1])))
    ks = np.unique(np.linspace(0, n, num=min(max_points, n + 1)).round().astype(np.int64))
    share_of_value = cumulative[ks] / total if total > 0 else np.zeros(len(ks))
    return pd.DataFrame(
        {
            "share_of_customers": ks / max(n, 1),
            "share_of_value": np.minimum(share_of_value, 1.0),
        }
    )


def tier_summary(tiers: np.ndarray, values: pd.Series | np.ndarray) -> dict:
    """Per tier: customers, share of customers, value (positive), share of positive value."""
    pos = positive_values(values)
    total = pos.sum()
    n = len(pos)
    summary = {}
    for tier in TIERS:
        mask = np.asarray(tiers) == tier
        summary[tier] = {
            "customers": int(mask.sum()),
            "customer_share": float(mask.sum() / n) if n else 0.0,
            "value": float(pos[mask].sum()),
            "value_share": float(pos[mask].sum() / total) if total > 0 else 0.0,
        }
    return summary


def tiers_from_cuts(values: pd.Series | np.ndarray, strategic: float, value: float) -> np.ndarray:
    """Tier per customer from the cut-offs of :func:`segmentation.population.value_cuts`:
    strategic when ``value >= strategic``, value when ``value >= value``, else basic (zero,
    negative and missing values are basic). Equal to :func:`assign_value_tiers` on the
    population the cut-offs were computed from."""
    arr = positive_values(values)
    tiers = np.full(len(arr), "basic", dtype=object)
    tiers[(arr > 0) & (arr >= value)] = "value"
    tiers[(arr > 0) & (arr >= strategic)] = "strategic"
    return tiers
