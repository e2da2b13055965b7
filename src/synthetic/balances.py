"""Monthly balance snapshots (AUM) with a planted asset outflow before churn.

Planted on top of a generated extract (:func:`synthetic.bank.generate`), from its own
seeded random stream, so the transaction and client files do not change. Per customer:

1. **Product lines held**: each of :data:`LINES` independently with probability
   ``hold``; at least one deposit line. The loan line is a liability: its balance is
   negative (``-level``) and shrinks in size by ``loan_amortisation`` a month.
2. **Level** of each asset line: ``mean_spend * LogNormal(log multiple, 1)``.
3. **Path**: from the month of the first transaction to the extract month, one month-end
   snapshot per line, ``level * exp(random walk, sd drift_sd per month)``, rounded to
   0.01. A share ``missing_share`` of the snapshots is left out (missing months).
4. **Planted outflow** (``effect=True``): a customer who drops out (``alive`` false in the
   generator's truth) at day ``d`` (the last transaction) sees every asset line fall by a
   factor ``exp(-outflow_rate)`` a month from ``outflow_lead_months`` before ``d`` until
   ``outflow_tail_months`` after it (then it stays at that level). With ``effect=False``
   nobody's balances move with churn, so a model must find nothing.

Dirty rows (one fault each) are appended for the reject tests: ``bad_date``,
``bad_amount``, ``blank_customer_id``, ``duplicate_snapshot`` (an exact repeat).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

#: product lines of the balance extract, in file order; the loan line is negative
LINES = ("活期存款", "定期存款", "理财", "基金", "贷款")
LOAN = "贷款"
HEADER = {"customer_id": "客户号", "date": "快照日期", "product": "产品类别", "balance": "余额"}


@dataclasses.dataclass(frozen=True)
class BalanceTruth:
    """Parameters of the planted balance snapshots."""

    #: first snapshot month (earlier months are not in the extract)
    first_month: str = "2024-07"
    hold: tuple[float, ...] = (1.0, 0.45, 0.35, 0.2, 0.15)
    multiple: tuple[float, ...] = (4.0, 8.0, 10.0, 6.0, 30.0)
    drift_sd: float = 0.06
    loan_amortisation: float = 0.02
    missing_share: float = 0.03
    outflow_lead_months: int = 4
    outflow_tail_months: int = 2
    outflow_rate: float = 0.3
    dirty_rows: int = 40


def month_ends(first: np.datetime64, last: np.datetime64) -> np.ndarray:
    """Month-end days (``datetime64[D]``) of every month from ``first`` to ``last``."""
    months = np.arange(first.astype("datetime64[M]"), last.astype("datetime64[M]") + 1)
    return (months + 1).astype("datetime64[D]") - 1


def churn_day(customers: pd.DataFrame) -> np.ndarray:
    """The generator's dropout day of each customer (``datetime64[D]``; NaT when alive):
    the day of the last transaction, ``first_date + floor(7 t_x)``."""
    first = customers["first_date"].to_numpy().astype("datetime64[D]")
    last = first + np.floor(7 * customers["t_x_weeks"].to_numpy()).astype("int64")
    return np.where(customers["alive"].to_numpy(), np.datetime64("NaT"), last)


def plant_balances(
    customers: pd.DataFrame,
    end: str,
    seed: int,
    effect: bool = True,
    truth: BalanceTruth | None = None,
) -> pd.DataFrame:
    """Clean month-end snapshots ``customer_id, date, product, balance`` (see the module
    docstring), sorted by date, customer and line.

    Parameters
    ----------
    customers : DataFrame
        The generator's per-customer truth (``customer_id, first_date, t_x_weeks, alive,
        mean_spend``).
    end : str
        The extract date; the last snapshot is this month's end, if not after ``end``.
    seed : int
        The generator's seed; this module draws from its own child stream.
    effect : bool
        Plant the outflow before churn (False: balances independent of churn).

    Returns
    -------
    DataFrame
        One row per (customer, month end, line) snapshot kept.
    """
    truth = truth or BalanceTruth()
    g = np.random.default_rng(np.random.SeedSequence([int(seed), 0xBA1A]))
    end_d = np.datetime64(end, "D")
    ends = month_ends(np.datetime64(truth.first_month, "M").astype("datetime64[D]"), end_d)
    ends = ends[ends <= end_d]
    n, k, m = len(customers), len(LINES), ends.size
    held = g.random((n, k)) < np.asarray(truth.hold)
    held[:, 0] = True
    spend = customers["mean_spend"].to_numpy()
    level = spend[:, None] * np.exp(g.normal(np.log(truth.multiple), 1.0, size=(n, k)))
    walk = np.cumsum(g.normal(0.0, truth.drift_sd, size=(n, k, m)), axis=2)
    path = level[:, :, None] * np.exp(walk)
    loan = LINES.index(LOAN)
    path[:, loan, :] = -level[:, loan, None] * (1 - truth.loan_amortisation) ** np.arange(m)
    if effect:
        gone = churn_day(customers)
        months_to = (ends[None, :] - gone[:, None]).astype("float64") / 30.4375
        steps = np.clip(months_to + truth.outflow_lead_months, 0, None)
        steps = np.minimum(steps, truth.outflow_lead_months + truth.outflow_tail_months)
        factor = np.where(np.isnan(steps), 1.0, np.exp(-truth.outflow_rate * steps))
        assets = [i for i in range(k) if i != loan]
        path[:, assets, :] *= factor[:, None, :]
    first = customers["first_date"].to_numpy().astype("datetime64[D]")
    opened = ends[None, :] >= first[:, None]
    keep = held[:, :, None] & opened[:, None, :] & (g.random((n, k, m)) >= truth.missing_share)
    who, line, month = np.nonzero(keep)
    frame = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(dtype=object)[who],
            "date": ends[month].astype("datetime64[ns]"),
            "product": np.asarray(LINES, dtype=object)[line],
            "balance": np.round(path[who, line, month], 2),
        }
    )
    return frame.sort_values(["date", "customer_id", "product"], kind="stable", ignore_index=True)


def format_rows(balances: pd.DataFrame) -> pd.DataFrame:
    """The snapshots as the extract's strings (YYYYMMDD dates, thousands separators)."""
    dates = balances["date"].dt.strftime("%Y%m%d")
    return pd.DataFrame(
        {
            "客户号": balances["customer_id"].to_numpy(dtype=object),
            "快照日期": dates.to_numpy(dtype=object),
            "产品类别": balances["product"].to_numpy(dtype=object),
            "余额": [f"{v:,.2f}" for v in balances["balance"].tolist()],
        }
    )


def dirty_rows(balances: pd.DataFrame, seed: int, count: int) -> pd.DataFrame:
    """``count`` extra unusable rows, one fault each, with ``kind`` and ``after`` (the
    position of the clean row they follow)."""
    g = np.random.default_rng(np.random.SeedSequence([int(seed), 0xBA1B]))
    kinds = np.array(["bad_date", "bad_amount", "blank_customer_id", "duplicate_snapshot"])
    src = np.sort(g.choice(len(balances), size=count, replace=False))
    rows = format_rows(balances.iloc[src]).reset_index(drop=True)
    kind = kinds[np.arange(count) % kinds.size]
    rows.loc[kind == "bad_date", "快照日期"] = "20250230"
    rows.loc[kind == "bad_amount", "余额"] = "N/A"
    rows.loc[kind == "blank_customer_id", "客户号"] = ""
    rows["kind"] = kind
    rows["after"] = src.astype(float)
    return rows
