"""The churn candidates at one cut-off: the BTYD refit (refused when degenerate) with its
two scores (P(no transaction in the horizon), and the expected transactions in the
horizon), the gap survival model, the stacked classifier (gradient boosting on the
customer features plus the BTYD outputs, so that it starts from the BTYD baseline instead
of competing with it; Wolpert 1992, stacked generalisation), and the blend: the mean of
the other candidates' calibrated probabilities (an equal-weight combination, the robust
form of stacking when no single candidate dominates; Breiman 1996, Clemen 1989).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from churn.calibration import Calibrator, CrossFitCache, cross_fitted
from churn.settings import BLEND_MEMBERS
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


def btyd_expected_score(
    model: Any, features: pd.DataFrame, horizon_days: int, unit_days: float
) -> np.ndarray:
    """The ``btyd_expected`` score: ``exp(-E[X(T, T + h)])`` from a fitted BTYD model.

    Parameters
    ----------
    model : fitted BTYD model (ltv API: ``expected_transactions``)
    features : DataFrame
        ``frequency``, ``recency`` and ``T`` per customer.
    horizon_days, unit_days : the horizon and the model's time unit, in days.

    Returns
    -------
    ndarray
        ``exp(-E[X])`` in (0, 1], where ``E[X]`` is the conditional expected number of
        transactions in the horizon. It ranks clients as minus the expected transactions do
        (the order lifetimes' BG/NBD ranks by), and it is P(no transaction) if the
        transactions in the horizon were Poisson with that mean, so the calibration
        (on [0, 1] scores) maps it to a probability.
    """
    expected = model.expected_transactions(horizon_days / unit_days, *_rfm(features))
    return np.exp(-np.clip(np.asarray(expected, dtype=float), 0.0, None))


def blend_members(scores: dict[str, np.ndarray]) -> list[str]:
    """The blend's members among ``scores``: every single candidate scored (at least two)."""
    members = [n for n in BLEND_MEMBERS if n in scores]
    return members if len(members) >= 2 else []


def blend_backtest_score(
    scores: dict[str, np.ndarray],
    y: np.ndarray,
    method: str,
    seed: int,
    cache: CrossFitCache | None = None,
) -> tuple[np.ndarray | None, list[str]]:
    """The blend's score at one backtest cut-off: the mean of the members' out-of-fold
    calibrated probabilities.

    Parameters
    ----------
    scores : the candidates' raw scores at the cut-off (row-aligned with ``y``).
    y : the churn labels at the cut-off.
    method : the calibration method (``isotonic`` or ``sigmoid``).
    seed : the seed of the cross-fitting folds.
    cache : the cut-off's calibrations (:class:`churn.calibration.CrossFitCache` on ``y``,
        ``method`` and ``seed``), reused instead of cross-fitting again.

    Returns
    -------
    (score, members)
        ``p_blend = (1/K) sum_k g_k(s_k)``, each ``g_k`` the calibration map of member
        ``k`` fitted on the other folds (:func:`churn.calibration.cross_fitted`), so every
        member is on the probability scale before averaging; ``(None, [])`` with fewer than
        two members.
    """
    members = blend_members(scores)
    if not members:
        return None, []
    if cache is None:
        calibrated = [cross_fitted(scores[n], y, method, seed) for n in members]
    else:
        calibrated = [cache.oof(n, scores[n]) for n in members]
    return np.mean(calibrated, axis=0), members


def fit_blend(
    scores: dict[str, np.ndarray],
    y: np.ndarray,
    method: str,
    cache: CrossFitCache | None = None,
) -> dict[str, Calibrator]:
    """The members' calibration maps fitted on one cut-off (the most recent), for scoring
    the blend as of ``as_of``: ``{member: Calibrator}`` (taken from ``cache``, the
    cut-off's :class:`churn.calibration.CrossFitCache`, when given)."""
    if cache is not None:
        return {n: cache.calibrator(n, scores[n]) for n in blend_members(scores)}
    return {n: Calibrator(method).fit(scores[n], y) for n in blend_members(scores)}


def blend_score(calibrators: dict[str, Calibrator], scores: dict[str, np.ndarray]) -> np.ndarray:
    """``(1/K) sum_k g_k(s_k)``: the mean of the members' calibrated probabilities."""
    return np.mean([calibrators[n].transform(scores[n]) for n in calibrators], axis=0)


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
