"""Temporal backtest windows and churn labels.

With scoring date ``A`` and horizon ``h`` days the classifier and the calibration use three
cut-offs, so that no model is ever trained on the window it is evaluated on::

    training:   features as of A - 2h, labels from (A - 2h, A - h]
    evaluation: features as of A - h,  labels from (A - h,  A]       (the backtest)
    scoring:    features as of A,      outcome in  (A, A + h]        (unknown)

A customer *churned* in ``(c, c + h]`` when they have no transaction day in that window, or
(contractual products) when their ``close_date`` is on or before ``c + h``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BacktestWindows:
    """The three cut-offs of the churn backtest (all dates inclusive of the cut-off day)."""

    as_of: dt.date
    horizon_days: int

    @property
    def train_cutoff(self) -> dt.date:
        """Features for the classifier's training are computed as of this date (A - 2h)."""
        return self.as_of - dt.timedelta(days=2 * self.horizon_days)

    @property
    def eval_cutoff(self) -> dt.date:
        """Features for the backtest are computed as of this date (A - h)."""
        return self.as_of - dt.timedelta(days=self.horizon_days)

    @property
    def train_label_window(self) -> tuple[dt.date, dt.date]:
        """(start, end]: activity that labels the training rows."""
        return self.train_cutoff, self.eval_cutoff

    @property
    def eval_label_window(self) -> tuple[dt.date, dt.date]:
        """(start, end]: activity that labels the backtest rows."""
        return self.eval_cutoff, self.as_of


def backtest_windows(as_of: dt.date, horizon_days: int) -> BacktestWindows:
    """The backtest cut-offs for scoring date ``as_of`` and a horizon in days (>= 1)."""
    if int(horizon_days) < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    return BacktestWindows(as_of=as_of, horizon_days=int(horizon_days))


def churn_labels(
    customer_id: pd.Series,
    holdout_transactions: pd.Series,
    cutoff: dt.date,
    horizon_days: int,
    close_date: pd.Series | None = None,
) -> np.ndarray:
    """1 = churned in ``(cutoff, cutoff + horizon]``, 0 = active; one entry per customer.

    ``holdout_transactions`` counts the customer's transaction days in the window (aligned
    with ``customer_id``); ``close_date`` (optional, aligned, NaT when open) marks a
    contractual closing, which counts as churn when it falls on or before the window's end.
    """
    churned = np.asarray(pd.to_numeric(holdout_transactions).fillna(0).to_numpy() <= 0)
    if close_date is not None:
        end = pd.Timestamp(cutoff) + pd.Timedelta(days=int(horizon_days))
        closed = pd.to_datetime(pd.Series(close_date).reset_index(drop=True)) <= end
        churned = churned | closed.fillna(False).to_numpy(dtype=bool)
    if len(churned) != len(customer_id):
        raise ValueError("holdout_transactions must align with customer_id")
    return churned.astype(np.int8)
