"""Product-preference type (产品偏好): deposit-led / loan-led / fee-led / balanced.

``segmentation.product_lines`` maps each product category in the data to a line
(``deposit``, ``loan`` or ``fee``). From the feature table's ``share_product_<category>``
columns (share of the customer's value by category):

    line share  L_l = sum_{c -> l} max(s_c, 0) / sum_c max(s_c, 0)

over *all* categories (unmapped categories stay in the denominator as "other"; negative
shares -- categories that net out negative -- are clipped to 0 so shares stay in [0, 1]).
The type is ``<line>_led`` for the line with the largest share when that share is at least
``preference_threshold``, else ``balanced``. A customer whose shares are all zero/missing
is ``unknown``; when the data has no product column, or no category maps to a line, every
customer is ``unknown`` and the reason is returned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kequn.errors import UserError

PRODUCT_LINES = ("deposit", "loan", "fee")
PREFERENCE_TYPES = ("deposit_led", "loan_led", "fee_led", "balanced", "unknown")
SHARE_PREFIX = "share_product_"
NO_PRODUCT = "product is not mapped in the transaction extract (no share_product_* columns)"


def _check(product_lines: dict, threshold: float) -> float:
    bad = {k: v for k, v in (product_lines or {}).items() if v not in PRODUCT_LINES}
    if bad:
        raise UserError(
            f"params.yaml: segmentation.product_lines values must be one of {PRODUCT_LINES}, "
            f"got {bad}"
        )
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = float("nan")
    if not 0 < threshold <= 1:
        raise UserError(
            f"params.yaml: segmentation.preference_threshold must be in (0, 1], got {threshold}"
        )
    return threshold


def product_line_shares(customers: pd.DataFrame, product_lines: dict) -> pd.DataFrame:
    """Per customer, the share of value of each product line (columns deposit, loan, fee)."""
    columns = [c for c in customers.columns if c.startswith(SHARE_PREFIX)]
    shares = customers[columns].to_numpy("float64") if columns else np.zeros((len(customers), 0))
    shares = np.clip(np.nan_to_num(shares, nan=0.0), 0.0, None)
    total = shares.sum(axis=1)
    out = {}
    for line in PRODUCT_LINES:
        picked = [
            i
            for i, c in enumerate(columns)
            if product_lines.get(c.removeprefix(SHARE_PREFIX)) == line
        ]
        line_sum = shares[:, picked].sum(axis=1)
        out[line] = np.divide(line_sum, total, out=np.zeros(len(total)), where=total > 0)
    return pd.DataFrame(out, index=customers.index)


def assign_preference_types(
    customers: pd.DataFrame, product_lines: dict, threshold: float
) -> tuple[np.ndarray, str | None, dict]:
    """Preference type per customer, the reason when nobody can be typed, and diagnostics.

    Diagnostics: the categories found in the data and those that map to no line.
    """
    threshold = _check(product_lines, threshold)
    product_lines = product_lines or {}
    categories = [
        c.removeprefix(SHARE_PREFIX) for c in customers.columns if c.startswith(SHARE_PREFIX)
    ]
    diagnostics = {
        "categories": categories,
        "unmapped_categories": [c for c in categories if c not in product_lines],
    }
    types = np.full(len(customers), "unknown", dtype=object)
    if not categories:
        return types, NO_PRODUCT, diagnostics
    if not any(c in product_lines for c in categories):
        reason = (
            f"no product category in the data ({', '.join(categories[:10])}) is listed in "
            "segmentation.product_lines"
        )
        return types, reason, diagnostics
    lines = product_line_shares(customers, product_lines)
    share = lines.to_numpy()
    has_value = (
        np.clip(
            np.nan_to_num(customers[[SHARE_PREFIX + c for c in categories]].to_numpy("float64")),
            0,
            None,
        ).sum(axis=1)
        > 0
    )
    lead = share.argmax(axis=1)
    lead_share = share.max(axis=1)
    led = np.array([f"{line}_led" for line in PRODUCT_LINES], dtype=object)[lead]
    types[:] = np.where(lead_share >= threshold - 1e-12, led, "balanced")
    types[~has_value] = "unknown"
    return types, None, diagnostics
