"""The ``churn`` parameters (params.yaml), checked into a frozen :class:`ChurnSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from churn.calibration import METHODS
from churn.warning import check_thresholds
from kequn.errors import UserError

CANDIDATES = ("btyd", "survival", "gbm")


@dataclass(frozen=True)
class ChurnSettings:
    """The ``churn`` parameters, checked.

    ``backtest_origins``: how many rolling backtest cut-offs (``as_of - h``,
    ``as_of - h - step``, ...); ``origin_step_days``: the days between two cut-offs.
    """

    horizon_days: int
    model: str
    calibration: str
    thresholds: dict[str, float]
    value_weighted: bool
    max_reasons: int
    unit_days: float
    trend_window_days: int
    strategic_share: float
    seed: int
    backtest_origins: int = 3
    origin_step_days: int = 91


def _whole(churn: dict[str, Any], key: str, default: int, minimum: int) -> int:
    """``churn.<key>`` as a whole number of at least ``minimum``; else a UserError."""
    value = churn.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UserError(f"params.yaml: churn.{key}={value!r} is not a whole number") from None
    if number < minimum or (isinstance(value, float) and value != number):
        raise UserError(
            f"params.yaml: churn.{key} must be a whole number >= {minimum}, got {value}"
        )
    return number


def read_settings(params: dict[str, Any]) -> ChurnSettings:
    """Check the ``churn`` section (plus features, seed); a bad value is a UserError."""
    churn = params.get("churn") or {}
    features = params.get("features") or {}
    tiers = (params.get("segmentation") or {}).get("tier_shares") or {}
    try:
        horizon = int(churn.get("horizon_days", 90))
    except (TypeError, ValueError):
        raise UserError(
            f"params.yaml: churn.horizon_days={churn.get('horizon_days')!r} is not a number"
        ) from None
    if horizon < 1:
        raise UserError(f"params.yaml: churn.horizon_days must be at least 1, got {horizon}")
    model = str(churn.get("model", "auto"))
    if model not in ("auto", *CANDIDATES):
        raise UserError(
            f"params.yaml: churn.model must be auto, btyd, survival or gbm, got {model!r}"
        )
    calibration = str(churn.get("calibration", "isotonic"))
    if calibration not in METHODS:
        raise UserError(
            f"params.yaml: churn.calibration must be isotonic or sigmoid, got {calibration!r}"
        )
    try:
        thresholds = check_thresholds(
            churn.get("thresholds") or {"red": 0.7, "orange": 0.5, "yellow": 0.3}
        )
    except ValueError as exc:
        raise UserError(f"params.yaml: {exc}") from None
    try:
        max_reasons = int(churn.get("max_reasons", 3))
    except (TypeError, ValueError):
        raise UserError(
            f"params.yaml: churn.max_reasons={churn.get('max_reasons')!r} is not a whole number"
        ) from None
    if max_reasons < 0:
        raise UserError(f"params.yaml: churn.max_reasons must be 0 or more, got {max_reasons}")
    return ChurnSettings(
        horizon_days=horizon,
        model=model,
        calibration=calibration,
        thresholds=thresholds,
        value_weighted=bool(churn.get("value_weighted", True)),
        max_reasons=max_reasons,
        unit_days=float(features.get("time_unit_days", 7)),
        trend_window_days=int(features.get("trend_window_days", 90)),
        strategic_share=float(tiers.get("strategic", 0.5)),
        seed=int(params.get("seed", 0)),
        backtest_origins=_whole(churn, "backtest_origins", 3, 1),
        origin_step_days=_whole(churn, "origin_step_days", 91, 1),
    )
