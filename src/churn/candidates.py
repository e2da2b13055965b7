"""The churn candidates at one cut-off: the BTYD refit (refused when degenerate), the gap
survival model, and the stacked classifier (gradient boosting on the customer features
plus the BTYD outputs, so that it starts from the BTYD baseline instead of competing
with it; Wolpert 1992, stacked generalisation).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from churn.survival import GapSurvivalModel, survival_covariates
from ltv.backtest import degenerate_reason as ltv_degenerate_reason

#: the stacking columns the classifier receives (docs/outputs.md)
BTYD_COLUMNS = ("btyd_p_alive", "btyd_expected_transactions", "btyd_clv")


def btyd_no_transaction(
    model: Any, features: pd.DataFrame, horizon_days: int, unit_days: float
) -> np.ndarray:
    """P(no transaction in (T, T + horizon]) from a fitted BTYD model (ltv API)."""
    p = model.probability_no_transactions(
        horizon_days / unit_days,
        features["frequency"].to_numpy(dtype=float),
        features["recency"].to_numpy(dtype=float),
        features["T"].to_numpy(dtype=float),
    )
    return np.clip(np.asarray(p, dtype=float), 0.0, 1.0)


def _rfm(features: pd.DataFrame) -> list[np.ndarray]:
    return [features[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]


def degenerate_reason(model: Any, features: pd.DataFrame) -> str | None:
    """:func:`ltv.backtest.degenerate_reason` on ``features``' frequency, recency and T."""
    return ltv_degenerate_reason(model, *_rfm(features))


def refit_btyd(template: Any, features: pd.DataFrame) -> tuple[Any | None, str | None]:
    """The template's BTYD class refitted on ``features`` (frequency, recency, T).

    Returns ``(model, None)``, or ``(None, reason)`` when the fit fails or
    :func:`degenerate_reason` refuses it.
    """
    penalizer = getattr(template, "penalizer", 0.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = type(template)(penalizer=penalizer).fit(*_rfm(features))
    except Exception as exc:  # a model that cannot be fitted is refused, not a crash
        return None, f"the fit failed ({exc})"
    reason = degenerate_reason(model, features)
    return (None, reason) if reason else (model, None)


def btyd_features(model: Any | None, features: pd.DataFrame, horizon_days: int, unit_days: float):
    """The stacking columns for ``features``: P(alive), expected transactions in the horizon
    and ``btyd_clv`` = expected transactions x mean spend (``monetary_value``; margin 1, no
    discounting); all NaN without a model (the trees route missing values)."""
    out = features.copy()
    if model is None:
        for column in BTYD_COLUMNS:
            out[column] = np.nan
        return out
    rfm = _rfm(features)
    expected = np.asarray(model.expected_transactions(horizon_days / unit_days, *rfm), float)
    out["btyd_p_alive"] = np.asarray(model.probability_alive(*rfm), dtype=float)
    out["btyd_expected_transactions"] = expected
    spend = pd.to_numeric(features.get("monetary_value"), errors="coerce")
    out["btyd_clv"] = expected * (spend.to_numpy(float) if spend is not None else np.nan)
    return out


def fit_survival(gaps: pd.DataFrame, features: pd.DataFrame, seed: int):
    """The Cox gap model on ``gaps`` with ``features``' covariates: ``(model, covariates)``."""
    covariates = survival_covariates(features)
    return GapSurvivalModel(seed=seed).fit(gaps, covariates), covariates


def survival_scores(
    model: GapSurvivalModel, features: pd.DataFrame, covariates: pd.DataFrame, h: int
):
    """P(no return within ``h`` days) per row of ``features``."""
    aligned = covariates.reindex(features["customer_id"].to_numpy())
    return model.churn_probability(features["days_since_last"].to_numpy(dtype=float), h, aligned)
