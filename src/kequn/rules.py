"""Business rules more than one stage needs, defined once.

- :data:`DAYS_PER_MONTH`: the mean Gregorian month, 365.25 / 12 = 30.4375 days, used to turn
  ``ltv.horizon_months`` into days (CLV horizon, gbm scaling, targeting's winback horizon).
- :func:`customer_margin`: each client's margin on transaction value from ``ltv.margin``;
  the ltv stage writes it to ``ltv.parquet`` (column ``margin``) and targeting reads it
  from there, so both use the same number per client.
- :func:`share_before` and :func:`tier_cut`: the cumulative-value rule behind the value
  tiers (战略/价值/基础客群) and the strategic clients of the churn warnings. The
  segmentation stage computes the same cut in DuckDB
  (:func:`segmentation.population.value_cuts`); churn applies :func:`tier_cut` to CLV.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from kequn.log import get_logger

#: days in a month on average (365.25 / 12)
DAYS_PER_MONTH = 30.4375
#: relative tolerance when a cumulative value share is compared with a tier share
SHARE_TOL = 1e-12

log = get_logger("rules")


def customer_margin(
    customers: pd.DataFrame, margin: float | Mapping[str, float], *, quiet: bool = False
) -> np.ndarray:
    """Each customer's margin on transaction value.

    Parameters
    ----------
    customers
        Rows of customers.parquet; the ``share_product_<line>`` columns are used.
    margin
        ``ltv.margin``: one number for everyone, or a mapping product line -> margin.
    quiet
        Do not log the warning about unmapped product lines.

    Returns
    -------
    numpy.ndarray
        ``margin_i = sum_c share_product_<c>_i * margin_c`` over the product shares of the
        customer's value; a product line without a margin in the mapping counts at the mean
        of the mapping's margins, and a customer without any product share gets that mean
        (logged as a warning unless ``quiet``). A scalar margin applies to everyone.
    """
    n = len(customers)
    if not isinstance(margin, Mapping):
        return np.full(n, float(margin))
    mean_margin = float(np.mean(list(margin.values())))
    share_columns = [c for c in customers.columns if c.startswith("share_product_")]
    if not share_columns:
        return np.full(n, mean_margin)
    lines = [c.removeprefix("share_product_") for c in share_columns]
    unmapped = [line for line in lines if line not in margin]
    if unmapped and not quiet:
        log.warning(
            "ltv.margin has no margin for product line(s) %s: using the mean %.4g",
            ", ".join(unmapped),
            mean_margin,
        )
    rates = np.array([margin.get(line, mean_margin) for line in lines])
    shares = customers[share_columns].to_numpy(dtype=float)
    shares = np.nan_to_num(shares, nan=0.0)
    has_share = np.abs(shares).sum(axis=1) > 0
    return np.where(has_share, shares @ rates, mean_margin)


def positive_values(values: pd.Series | np.ndarray) -> np.ndarray:
    """Values as float64 with zero, negative and missing values set to 0."""
    arr = np.asarray(values, dtype="float64")
    return np.where(np.isfinite(arr) & (arr > 0), arr, 0.0)


def share_before(values: pd.Series | np.ndarray) -> np.ndarray:
    """``C(v)``: the share of positive value held by customers with strictly greater value.

    Parameters
    ----------
    values
        One value per customer (CLV or historic value); zero, negative and missing values
        do not count towards the total.

    Returns
    -------
    numpy.ndarray
        ``C(v_i) = sum_{j: v_j > v_i} v_j^+ / sum_j v_j^+`` per customer: the value "before"
        the customer on the Pareto curve (Juran's cumulative-value reading). Customers with
        equal values get the same share, so nothing depends on row order. 1.0 for customers
        without a positive value, and for everyone when the total is 0.
    """
    pos = positive_values(values)
    total = pos.sum()
    if total <= 0:
        return np.ones(len(pos))
    order = np.argsort(-pos, kind="stable")
    sorted_values = pos[order]
    # cumulative value *before* each row in sorted order, then the first row of each tie
    # group gives its value to the whole group (strictly-greater values only)
    before_sorted = np.concatenate(([0.0], np.cumsum(sorted_values)[:-1]))
    group_start = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    first_of_group = np.maximum.accumulate(np.where(group_start, np.arange(len(pos)), 0))
    before_sorted = before_sorted[first_of_group] / total
    before = np.empty(len(pos))
    before[order] = before_sorted
    before[pos <= 0] = 1.0
    return before


def tier_cut(values: pd.Series | np.ndarray, share: float) -> float:
    """The value cut of a tier that holds the top ``share`` of positive value.

    Parameters
    ----------
    values
        One value per customer.
    share
        The tier's cumulative share: ``segmentation.tier_shares.strategic`` for the
        strategic tier, ``strategic + value`` for the value tier's lower cut.

    Returns
    -------
    float
        The smallest positive ``v`` with ``C(v) < share - SHARE_TOL`` (:func:`share_before`),
        ``inf`` when there is none. A customer is in the tier (or above) when its value is
        positive and ``>= cut``; the customer whose value crosses the share is included,
        and equal values share a tier. As a threshold the rule can be applied chunk by
        chunk.
    """
    pos = positive_values(values)
    inside = (pos > 0) & (share_before(pos) < share - SHARE_TOL)
    return float(pos[inside].min()) if inside.any() else float("inf")
