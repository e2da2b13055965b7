"""Asset-size tiers (大/中/小客户) from the AUM of the balance snapshots (``aum_latest``)
or the client master's ``asset_balance`` (``segmentation.asset_tiers.basis``).

``segmentation.asset_tiers`` chooses the cut:

- ``{method: quantile, large: 0.9, medium: 0.6}``: a customer is *large* when at least 90 %
  of the customers with a known balance have a strictly smaller balance, *medium* when at
  least 60 % do, *small* otherwise. The percentile is ``(rank_min - 1) / n`` (the share of
  customers strictly below), so equal balances always share a tier and a heap of equal
  balances (zeros) cannot push anyone up.
- ``{method: amount, large: 5000000, medium: 500000}``: fixed amounts, ``balance >= large``
  is large, ``balance >= medium`` is medium.

A customer without a balance is ``unknown``; when the client master does not map
``asset_balance`` at all every customer is ``unknown`` and the reason is returned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kequn.errors import UserError

ASSET_TIERS = ("large", "medium", "small", "unknown")
NOT_MAPPED = "asset_balance is not mapped in the client master (ingest.clients_mapping)"
NO_VALUES = "asset_balance is mapped but empty for every customer"
NO_AUM = "segmentation.asset_tiers.basis is aum but no customer has a balance snapshot"


def _check_spec(spec: dict) -> tuple[str, float, float]:
    method = str(spec.get("method", "quantile"))
    if method not in ("quantile", "amount"):
        raise UserError(
            f"params.yaml: segmentation.asset_tiers.method must be quantile or amount, "
            f"got {method!r}"
        )
    try:
        large, medium = float(spec["large"]), float(spec["medium"])
    except (KeyError, TypeError, ValueError):
        raise UserError(
            "params.yaml: segmentation.asset_tiers needs numbers 'large' and 'medium', "
            f"got {spec!r}"
        ) from None
    if medium > large or (method == "quantile" and not 0 <= medium <= large <= 1):
        raise UserError(
            "params.yaml: segmentation.asset_tiers needs medium <= large (quantiles in [0, 1]), "
            f"got large={large}, medium={medium}"
        )
    return method, large, medium


def assign_asset_tiers(balance: pd.Series | None, spec: dict) -> tuple[np.ndarray, str | None]:
    """Asset tier per customer and, when nobody can be tiered, the reason (else ``None``).

    ``balance`` is the ``asset_balance`` column, or ``None`` when it is not mapped.
    """
    method, large, medium = _check_spec(spec)
    if balance is None:
        return np.array([], dtype=object), NOT_MAPPED
    values = pd.to_numeric(balance, errors="coerce").to_numpy(dtype="float64")
    known = np.isfinite(values)
    tiers = np.full(len(values), "unknown", dtype=object)
    if not known.any():
        return tiers, NO_VALUES
    if method == "quantile":
        ranks = pd.Series(values[known]).rank(method="min").to_numpy()
        position = (ranks - 1) / known.sum()
    else:
        position = values[known]
    tiers[known] = np.where(
        position >= large, "large", np.where(position >= medium, "medium", "small")
    )
    return tiers, None


def check_spec(spec: dict) -> tuple[str, float, float]:
    """Validated ``(method, large, medium)`` of ``segmentation.asset_tiers``."""
    return _check_spec(spec)


def tiers_from_cuts(balance: pd.Series, large: float, medium: float) -> np.ndarray:
    """Asset tier per customer from balance cut-offs (``balance >= large`` is large, ``>=
    medium`` medium, else small; no balance: unknown). With the quantile method the cut-offs
    come from :func:`segmentation.population.asset_cuts`, with ``amount`` they are the
    amounts."""
    values = pd.to_numeric(balance, errors="coerce").to_numpy(dtype="float64")
    known = np.isfinite(values)
    tiers = np.full(len(values), "unknown", dtype=object)
    tiers[known] = np.where(
        values[known] >= large, "large", np.where(values[known] >= medium, "medium", "small")
    )
    return tiers
