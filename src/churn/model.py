"""The fitted churn model (:class:`ChurnFit`) and how it turns feature rows into scores:
the survival and BTYD probabilities, the chosen candidate's raw score, and the calibrated
probability. Shared by the fit (:mod:`churn.fitting`) and the scoring (:mod:`churn.scoring`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churn.calibration import (
    Calibrator,
    quantile_map_fitted,
)
from churn.candidates import (
    blend_score,
    btyd_expected_score,
    btyd_features,
    btyd_no_transaction,
)
from churn.classifier import ChurnClassifier
from churn.reasons import ReasonModel
from churn.settings import ChurnSettings
from churn.stack import StackModel, stack_score
from churn.survival import (
    GapSurvivalModel,
    survival_covariates,
)

#: median_days_to_inactivity is capped here (days): "not within ten years"
MAX_DAYS_TO_INACTIVITY = 3650


@dataclass
class ChurnFit:
    """Everything scoring needs, learnt on the fit sample: small, whatever the population.

    ``survival`` (Cox model as of ``as_of``) with its ``client_types`` levels; the chosen
    candidate, its ``classifier`` and ``calibrator``; for the quantile map the fit sample's
    sorted raw scores ``map_scores`` and BTYD probabilities ``map_reference``; the strategic
    CLV cut ``strategic_threshold`` (None: no value weighting); the blend's members'
    calibration maps ``blend`` (fitted on the most recent cut-off, whichever candidate is
    chosen); the ``stack`` (its members' maps and weights, fitted on the same cut-off);
    the reasons'
    surrogate; and the fit's part of churn.json, the plot tables and the degradations.
    """

    settings: ChurnSettings
    as_of: dt.date
    chosen: str
    survival: GapSurvivalModel
    client_types: list[str] | None
    transaction_model: Any
    stack_model: Any
    classifier: ChurnClassifier | None
    calibrator: Calibrator | None
    calibration_used: str
    map_scores: np.ndarray | None = None
    map_reference: np.ndarray | None = None
    strategic_threshold: float | None = None
    blend: dict[str, Calibrator] | None = None
    stack: StackModel | None = None
    value_weighting_skipped: bool = False
    reasons: ReasonModel | None = None
    fit_customers: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)


def closing_accounts(features: pd.DataFrame, as_of: dt.date, horizon_days: int) -> np.ndarray:
    """True where the account's ``close_date`` falls on or before ``as_of + horizon``."""
    if "close_date" not in features:
        return np.zeros(len(features), dtype=bool)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=horizon_days)
    return (pd.to_datetime(features["close_date"]) <= end).fillna(False).to_numpy(dtype=bool)


def finite(value: float) -> float | None:
    """A number for churn.json; None instead of NaN (not valid JSON)."""
    return float(value) if np.isfinite(value) else None


def model_scores(
    fit: ChurnFit, customers: pd.DataFrame, *, btyd: bool = True
) -> tuple[np.ndarray, np.ndarray | None, Any, pd.DataFrame]:
    """Survival and BTYD P(churn) as of A: ``(survival, btyd or None, the BTYD error, the
    survival covariates row-aligned with customers)``; BTYD only when ``btyd``."""
    h = fit.settings.horizon_days
    covariates = survival_covariates(customers, fit.client_types)
    aligned = covariates.reindex(customers["customer_id"].to_numpy())
    days_since_last = customers["days_since_last"].to_numpy(dtype=float)
    survival_now = fit.survival.churn_probability(days_since_last, h, aligned)
    btyd_now, btyd_error = None, "no transaction model"
    if not btyd:
        btyd_error = "not needed"
    elif fit.stack_model is not None:
        try:
            btyd_now = btyd_no_transaction(fit.stack_model, customers, h, fit.settings.unit_days)
        except Exception as exc:  # reported by the caller only if the BTYD score is needed
            btyd_error = exc
    return survival_now, btyd_now, btyd_error, aligned


def candidate_score(
    fit: ChurnFit,
    name: str,
    customers: pd.DataFrame,
    survival_now: np.ndarray,
    btyd_now: np.ndarray | None,
) -> np.ndarray:
    """One single candidate's raw score as of A (NaN where it has none; no BTYD model:
    all NaN for the BTYD scores)."""
    s, model = fit.settings, fit.stack_model
    if name == "btyd":
        if btyd_now is None and model is not None:
            btyd_now = btyd_no_transaction(model, customers, s.horizon_days, s.unit_days)
        return btyd_now if btyd_now is not None else np.full(len(customers), np.nan)
    if name == "btyd_expected":
        if model is None:
            return np.full(len(customers), np.nan)
        return btyd_expected_score(model, customers, s.horizon_days, s.unit_days)
    if name == "gbm":
        stacked = btyd_features(model, customers, s.horizon_days, s.unit_days)
        return fit.classifier.predict_proba(stacked)
    return survival_now


def chosen_score(
    fit: ChurnFit, customers: pd.DataFrame, survival_now: np.ndarray, btyd_now: np.ndarray | None
) -> np.ndarray:
    """The chosen candidate's raw score (NaN where it has none; BTYD failing: all NaN); the
    blend's is the mean of its members' calibrated probabilities, the stack's their learned
    non-negative combination (:func:`churn.stack.stack_score`)."""
    if fit.chosen == "blend":
        members = {n: candidate_score(fit, n, customers, survival_now, btyd_now) for n in fit.blend}
        return blend_score(fit.blend, members)
    if fit.chosen == "stack":
        names = fit.stack.calibrators
        members = {n: candidate_score(fit, n, customers, survival_now, btyd_now) for n in names}
        return stack_score(fit.stack, members)
    return candidate_score(fit, fit.chosen, customers, survival_now, btyd_now)


def calibrated_probability(
    fit: ChurnFit, customers: pd.DataFrame, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probability (closing accounts: 1), rounded to 6 decimals; and ``closing``.

    Without a calibration map: the fit sample's quantile map onto the BTYD probabilities
    (:func:`churn.calibration.quantile_map_fitted`), else the raw score clipped to [0, 1].
    """
    if fit.calibrator is not None:
        probability = fit.calibrator.transform(raw)
    elif fit.map_scores is not None:
        probability = quantile_map_fitted(raw, fit.map_scores, fit.map_reference)
    else:
        probability = np.clip(raw, 0.0, 1.0)
    closing = closing_accounts(customers, fit.as_of, fit.settings.horizon_days)
    return np.where(closing, 1.0, probability).round(6), closing
