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

#: a BTYD parameter above this (or below its inverse) sits at the optimiser's practical bound
PARAMETER_BOUND = 1e6
#: P(alive) with an interquartile range below this does not separate clients
MIN_ALIVE_SPREAD = 0.01
#: fewest repeat customers for the P(alive) spread check
MIN_REPEAT_TO_CHECK = 20
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
    """Why a fitted BTYD model must not be used, or None when it may.

    Refused: a fit that did not converge (``converged_`` False: optimiser failure, a log
    parameter at the ±20 box, a Hessian that is not positive definite); a parameter above
    ``PARAMETER_BOUND`` or below its inverse; P(alive) whose interquartile range over the
    repeat customers is below ``MIN_ALIVE_SPREAD`` (a dropout rate at zero: every client
    "alive"; first-time buyers are left out, BG/NBD holds them alive by construction).
    """
    params = {k: float(v) for k, v in getattr(model, "params_", {}).items()}
    shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
    if not getattr(model, "converged_", True):
        return f"the fit did not converge ({shown})"
    extreme = [k for k, v in params.items() if not 1 / PARAMETER_BOUND < v < PARAMETER_BOUND]
    if extreme:
        return f"parameter {', '.join(extreme)} at a bound ({shown})"
    repeat = features["frequency"].to_numpy(dtype=float) > 0  # (x = 0: P(alive) 1 in BG/NBD)
    if repeat.sum() < MIN_REPEAT_TO_CHECK:
        return None
    alive = np.asarray(model.probability_alive(*_rfm(features[repeat])), dtype=float)
    q25, q75 = np.nanquantile(alive, [0.25, 0.75])
    if q75 - q25 < MIN_ALIVE_SPREAD:
        return (
            f"P(alive) nearly constant (interquartile {q25:.4f}..{q75:.4f}; {shown}): "
            "the dropout process is degenerate"
        )
    return None


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
