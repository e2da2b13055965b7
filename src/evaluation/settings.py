"""The ``evaluation`` parameters, checked once (a frozen settings object, as ChurnSettings)."""

from __future__ import annotations

import dataclasses
from typing import Any

from kequn.settings import settings_from


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
    """The ``evaluation`` section of params.yaml.

    responses: response mapping file ("" = no imported extract); window_days: days after a
    list's date in which its outcomes count; min_control: smaller control groups are flagged
    "too small to conclude"; bootstrap_draws: replicates of the money intervals; test_share:
    share of a past campaign held out to backtest the uplift model; top_share: k of uplift@k;
    prior_strength: standard error given to the prior response_rate when it is shrunk with
    the measured lift.
    """

    responses: str = ""
    window_days: int = 60
    min_control: int = 100
    bootstrap_draws: int = 2000
    test_share: float = 0.3
    top_share: float = 0.3
    prior_strength: float = 0.05
    seed: int = 0


def read_settings(params: dict[str, Any]) -> EvaluationSettings:
    """The ``evaluation`` section (plus ``seed``) from :mod:`kequn.settings`, where it is
    validated (an unknown key or a bad value is a one-line UserError naming it)."""
    settings = settings_from(params)
    return EvaluationSettings(**settings.evaluation.as_dict(), seed=settings.seed)
