"""The ``evaluation`` parameters, checked once (a frozen settings object, as ChurnSettings)."""

from __future__ import annotations

import dataclasses
from typing import Any

from kequn.errors import UserError

KEYS = (
    "responses",
    "window_days",
    "min_control",
    "bootstrap_draws",
    "test_share",
    "top_share",
    "prior_strength",
)


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


def _number(section: dict, key: str, default, kind, low, high=None):
    value = section.get(key, default)
    try:
        if isinstance(value, bool):
            raise TypeError
        number = kind(value)
    except (TypeError, ValueError):
        raise UserError(f"params.yaml: evaluation.{key}={value!r} is not a number") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UserError(f"params.yaml: evaluation.{key} must be {bound}, got {number}")
    return number


def read_settings(params: dict[str, Any]) -> EvaluationSettings:
    """Check the ``evaluation`` section (plus ``seed``); an unknown key or bad value is a
    UserError naming it."""
    section = params.get("evaluation") or {}
    if not isinstance(section, dict):
        raise UserError("params.yaml: 'evaluation' must be a mapping")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise UserError(
            f"params.yaml: evaluation.{unknown[0]} is not a known key; known: {', '.join(KEYS)}"
        )
    responses = section.get("responses", "") or ""
    if not isinstance(responses, str):
        raise UserError(f"params.yaml: evaluation.responses={responses!r} must be a path or ''")
    return EvaluationSettings(
        responses=responses,
        window_days=_number(section, "window_days", 60, int, 1),
        min_control=_number(section, "min_control", 100, int, 1),
        bootstrap_draws=_number(section, "bootstrap_draws", 2000, int, 100),
        test_share=_number(section, "test_share", 0.3, float, 0.05, 0.9),
        top_share=_number(section, "top_share", 0.3, float, 0.01, 1.0),
        prior_strength=_number(section, "prior_strength", 0.05, float, 1e-6),
        seed=int(params.get("seed", 0) or 0),
    )
