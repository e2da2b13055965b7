"""A plain, vectorised pandas implementation of :func:`features.customer_features`.

Independent of the SQL (the final shares, main channels and client join are
:func:`features.assemble.assemble`, NumPy and Arrow): a cross-check for the SQL engines in
the tests and the baseline of the benchmark. Needs the data in memory.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.assemble import assemble
from features.common import check_dates


def _windows(dates: pd.Series, as_of: dt.date, trend_window_days: int) -> tuple:
    recent_start = pd.Timestamp(as_of - dt.timedelta(days=trend_window_days))
    prior_start = pd.Timestamp(as_of - dt.timedelta(days=2 * trend_window_days))
    in_recent = dates > recent_start
    in_prior = (dates > prior_start) & (dates <= recent_start)
    return in_recent, in_prior


def _category_table(
    tx: pd.DataFrame, column: str, as_of: dt.date, trend_window_days: int
) -> pd.DataFrame:
    rows = tx.loc[tx[column].notna() & (tx[column].astype(str) != "")]
    in_recent, in_prior = _windows(rows["date"], as_of, trend_window_days)
    long = pd.DataFrame(
        {
            "customer_id": rows["customer_id"],
            "category": rows[column].astype(str),
            "value": rows["amount"],
            "recent_value": rows["amount"].where(in_recent, 0.0),
            "recent_rows": in_recent.astype(np.int64),
            "prior_value": rows["amount"].where(in_prior, 0.0),
            "prior_rows": in_prior.astype(np.int64),
        }
    )
    return long.groupby(["customer_id", "category"], sort=True, as_index=False).sum()


def customer_features_pandas(
    transactions: pd.DataFrame,
    as_of: dt.date,
    *,
    unit_days: float = 7,
    trend_window_days: int = 90,
    clients: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Same table as :func:`features.customer_features`, computed with pandas group-bys."""
    as_of = check_dates(as_of, "as_of")
    dates = pd.to_datetime(transactions["date"]).dt.normalize()
    keep = (dates <= pd.Timestamp(as_of)).to_numpy()
    tx = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].astype(str).to_numpy()[keep],
            "date": dates.to_numpy()[keep],
            "amount": transactions["amount"].astype(np.float64).to_numpy()[keep],
        }
    )
    for column in ("product", "channel"):
        if column in transactions.columns:
            tx[column] = transactions[column].to_numpy()[keep]

    daily = tx.groupby(["customer_id", "date"], sort=True, as_index=False).agg(
        day_value=("amount", "sum"), day_rows=("amount", "size")
    )
    is_first_day = ~daily["customer_id"].duplicated()
    in_recent, in_prior = _windows(daily["date"], as_of, trend_window_days)
    daily["gap"] = daily["date"].diff().dt.days.where(~is_first_day)
    daily["repeat_value"] = daily["day_value"].where(~is_first_day, 0.0)
    daily["recent_value"] = daily["day_value"].where(in_recent, 0.0)
    daily["prior_value"] = daily["day_value"].where(in_prior, 0.0)
    daily["recent_n_days"] = in_recent.astype(np.int64)
    daily["prior_n_days"] = in_prior.astype(np.int64)
    per = daily.groupby("customer_id", sort=True).agg(
        first_date=("date", "min"),
        last_date=("date", "max"),
        n_transactions=("day_rows", "sum"),
        n_days=("date", "size"),
        total_value=("day_value", "sum"),
        repeat_value=("repeat_value", "sum"),
        gap_mean_days=("gap", "mean"),
        gap_std_days=("gap", "std"),
        recent_value=("recent_value", "sum"),
        prior_value=("prior_value", "sum"),
        recent_n_days=("recent_n_days", "sum"),
        prior_n_days=("prior_n_days", "sum"),
    )
    per = per.reset_index()
    as_of_ts = pd.Timestamp(as_of)
    per["frequency"] = per["n_days"] - 1
    per["recency"] = (per["last_date"] - per["first_date"]).dt.days / unit_days
    per["T"] = (as_of_ts - per["first_date"]).dt.days / unit_days
    per["mean_value"] = per["total_value"] / per["n_days"]
    repeat_mean = per["repeat_value"] / per["frequency"].where(per["frequency"] > 0)
    per["monetary_value"] = repeat_mean.fillna(0.0)
    per["days_since_last"] = (as_of_ts - per["last_date"]).dt.days
    per["tenure_days"] = (as_of_ts - per["first_date"]).dt.days
    scale = per["recent_value"].abs() + per["prior_value"].abs()
    trend = (per["recent_value"] - per["prior_value"]) / scale.where(scale > 0)
    per["value_trend"] = trend.fillna(0.0)

    long = {
        column: _category_table(tx, column, as_of, trend_window_days)
        if column in tx.columns
        else None
        for column in ("product", "channel")
    }
    return assemble(per, long["product"], long["channel"], clients)
