"""Business rules more than one stage needs, defined once.

- :data:`DAYS_PER_MONTH`: the mean Gregorian month, 365.25 / 12 = 30.4375 days, used to turn
  ``ltv.horizon_months`` into days (CLV horizon, gbm scaling, targeting's winback horizon).
- :func:`customer_margin`: each client's margin on transaction value from ``ltv.margin``;
  the ltv stage writes it to ``ltv.parquet`` (column ``margin``) and targeting reads it
  from there, so both use the same number per client.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from kequn.log import get_logger

#: days in a month on average (365.25 / 12)
DAYS_PER_MONTH = 30.4375

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
