"""The ``churn`` parameters (params.yaml), checked into a frozen :class:`ChurnSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from churn.warning import check_thresholds
from kequn.errors import UserError
from kequn.settings import ComplaintWarning, OutflowWarning, settings_from

#: the churn candidates, in the order that breaks ties (singles before the blend)
CANDIDATES = ("btyd", "btyd_expected", "survival", "gbm", "blend", "stack")
#: the candidates whose calibrated probabilities the ``blend`` averages and the ``stack``
#: combines
BLEND_MEMBERS = ("btyd", "btyd_expected", "survival", "gbm")


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
    outflow_warning: OutflowWarning = field(default_factory=OutflowWarning)
    complaint_warning: ComplaintWarning = field(default_factory=ComplaintWarning)


def read_settings(params: dict[str, Any]) -> ChurnSettings:
    """The ``churn`` section (plus features, seed, the strategic tier share) from
    :mod:`kequn.settings`, where it is validated (a bad value is a one-line UserError)."""
    settings = settings_from(params)
    churn = settings.churn
    try:
        thresholds = check_thresholds(churn.thresholds.as_dict())
    except ValueError as exc:
        raise UserError(f"params.yaml: {exc}") from None
    return ChurnSettings(
        horizon_days=churn.horizon_days,
        model=churn.model,
        calibration=churn.calibration,
        thresholds=thresholds,
        value_weighted=churn.value_weighted,
        max_reasons=churn.max_reasons,
        unit_days=float(settings.features.time_unit_days),
        trend_window_days=settings.features.trend_window_days,
        strategic_share=settings.segmentation.tier_shares.strategic,
        seed=settings.seed,
        backtest_origins=churn.backtest_origins,
        origin_step_days=churn.origin_step_days,
        outflow_warning=churn.outflow_warning,
        complaint_warning=churn.complaint_warning,
    )
