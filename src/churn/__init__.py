"""Churn risk (流失预警): who is about to stop transacting, how sure we are, and why.

A customer has *churned* when they make no transaction in the ``churn.horizon_days`` after
the scoring date (or, for contractual products, their account closes by then). Three
candidate scores are compared on a rolling-origin backtest (:mod:`churn.rolling`; BTYD fits
that are degenerate are refused, :mod:`churn.candidates`):

- ``btyd``: P(no transaction in the horizon) from the BTYD transaction model (:mod:`ltv`);
- ``survival``: a Cox proportional-hazards model of the gaps between transactions
  (:mod:`churn.survival`), with Kaplan-Meier curves by value band and client type;
- ``gbm``: a gradient-boosted classifier on the customer features stacked on the BTYD
  outputs (P(alive), expected transactions, CLV proxy) (:mod:`churn.classifier`).

The chosen score is calibrated (:mod:`churn.calibration`), turned into warning levels
(:mod:`churn.warning`) and explained per customer in English and Chinese
(:mod:`churn.reasons`).
"""

from churn.backtest import BacktestWindows, backtest_windows, churn_labels
from churn.calibration import Calibrator, expected_calibration_error
from churn.classifier import ChurnClassifier
from churn.reasons import explain
from churn.survival import GapSurvivalModel, inter_purchase_gaps, kaplan_meier_curves
from churn.warning import strategic_clients, warning_levels

__all__ = [
    "BacktestWindows",
    "Calibrator",
    "ChurnClassifier",
    "GapSurvivalModel",
    "backtest_windows",
    "churn_labels",
    "expected_calibration_error",
    "explain",
    "inter_purchase_gaps",
    "kaplan_meier_curves",
    "strategic_clients",
    "warning_levels",
]
