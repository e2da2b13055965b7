"""Feature tables at backtest cut-offs, each built once per run.

The ltv and churn stages backtest at cut-offs before ``as_of``: features as of the cut-off,
outcomes in ``(cutoff, end]``. Several of their steps need the same cut-off (ltv's
backtest calibration at ``as_of - H`` is also gbm's scoring training table; churn's rolling
origins overlap), so they ask one :class:`CutoffTables` for it instead of calling
:func:`features.split_at` themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from features.duckdb_engine import split_at
from features.signals import add_signals
from kequn.log import get_logger, timed

log = get_logger("features")


class CutoffTables:
    """:func:`features.split_at` results keyed by ``(cutoff, end)``.

    Parameters
    ----------
    transactions
        The transactions the tables are built from (a frame or a parquet path). Nothing
        dated after the latest ``end`` asked for is read into a table.
    unit_days, trend_window_days, clients
        Passed to :func:`features.split_at` for every table.
    balances, events
        The balance snapshots and service events (frames or Parquet paths; None when the
        extract is not configured): when given, each table gets their features as of its
        cut-off (:func:`features.signals.add_signals`), as customers.parquet has them as of
        ``as_of``.

    Notes
    -----
    The cached frames are shared between callers: treat them as read-only. ``built``
    counts the tables actually built, so that a caller (or a test) can check that no
    cut-off was built twice.
    """

    def __init__(
        self,
        transactions: Any,
        *,
        unit_days: float = 7,
        trend_window_days: int = 90,
        clients: Any = None,
        balances: Any = None,
        events: Any = None,
    ) -> None:
        self.transactions = transactions
        self.signals = (balances, events)
        self._args = {
            "unit_days": unit_days,
            "trend_window_days": trend_window_days,
            "clients": clients,
        }
        self._tables: dict[tuple[dt.date, dt.date], tuple[pd.DataFrame, pd.DataFrame]] = {}
        self.built = 0

    def split(self, cutoff: dt.date, end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(calibration, holdout)`` of :func:`features.split_at` for ``cutoff`` and ``end``.

        Parameters
        ----------
        cutoff
            Features use transactions on or before this date.
        end
            The holdout is ``(cutoff, end]``.

        Returns
        -------
        tuple of pandas.DataFrame
            The calibration features and, in the same order, ``holdout_transactions`` and
            ``holdout_value`` per customer; built on the first call for the pair, then
            returned from the cache.
        """
        key = (cutoff, end)
        if key not in self._tables:
            with timed(log, f"features as of {cutoff} (holdout to {end})"):
                calibration, holdout = split_at(self.transactions, cutoff, end, **self._args)
                calibration = add_signals(calibration, cutoff, *self.signals)
                self._tables[key] = calibration, holdout
            self.built += 1
        return self._tables[key]

    @property
    def held(self) -> list[tuple[dt.date, dt.date]]:
        """The ``(cutoff, end)`` pairs whose tables are held now."""
        return list(self._tables)

    def release(self, cutoff: dt.date, end: dt.date) -> None:
        """Forget the table of ``(cutoff, end)`` (a caller that needs it no more frees its
        memory); asked for again, it is built again."""
        self._tables.pop((cutoff, end), None)
