"""Service events (complaints, service requests, satisfaction surveys) with a planted
rise in unresolved complaints before churn.

Planted on top of a generated extract from its own seeded random stream. Per customer,
from the first transaction to the extract date:

- **complaints** (投诉) arrive as a Poisson process with rate ``complaint_rate`` a year;
  each has a severity (高/中/低) and is resolved after ``Exponential(resolve_days)`` days
  with probability ``1 - unresolved_share`` (else never; a resolution after the extract
  date is not in the extract either);
- **service requests** (服务请求 / 业务咨询) at ``request_rate`` a year, all resolved;
- **satisfaction surveys** (满意度调查) at ``survey_rate`` a year, score 1-5 drawn from
  ``scores``.

**Planted effect** (``effect=True``): a customer who drops out at day ``d`` (the
generator's truth, :func:`synthetic.balances.churn_day`) gets extra complaints at rate
``churn_complaint_rate`` a year in the ``churn_window_days`` before ``d`` until
``churn_tail_days`` after it, of which ``churn_unresolved_share`` stay unresolved, and
their surveys in that window score from ``churn_scores``. With ``effect=False`` nobody's
events depend on churn.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from synthetic.balances import churn_day

HEADER = {
    "event_id": "工单号",
    "customer_id": "客户号",
    "date": "事件日期",
    "type": "事件类型",
    "severity": "严重程度",
    "score": "满意度",
    "resolved_date": "解决日期",
}
SEVERITIES = ("高", "中", "低")


@dataclasses.dataclass(frozen=True)
class ServiceTruth:
    """Parameters of the planted service events."""

    complaint_rate: float = 0.12
    request_rate: float = 0.5
    survey_rate: float = 0.3
    resolve_days: float = 12.0
    unresolved_share: float = 0.08
    scores: tuple[float, ...] = (0.04, 0.06, 0.2, 0.4, 0.3)
    churn_complaint_rate: float = 2.5
    churn_window_days: int = 150
    churn_tail_days: int = 60
    churn_unresolved_share: float = 0.6
    churn_scores: tuple[float, ...] = (0.35, 0.35, 0.2, 0.07, 0.03)


def _poisson_days(g, starts, stops, rate_per_year):
    """Event days of a Poisson process with ``rate_per_year`` on [start, stop) per
    customer: (owner, day as datetime64[D])."""
    span = np.maximum((stops - starts).astype("int64"), 0)
    counts = g.poisson(rate_per_year * span / 365.25)
    owner = np.repeat(np.arange(span.size), counts)
    offset = np.floor(g.random(owner.size) * span[owner]).astype("int64")
    return owner, starts[owner] + offset


def plant_events(
    customers: pd.DataFrame,
    end: str,
    seed: int,
    effect: bool = True,
    truth: ServiceTruth | None = None,
) -> pd.DataFrame:
    """Clean service events ``event_id, customer_id, date, type, severity, score,
    resolved_date`` (module docstring), sorted by date and id.

    Parameters
    ----------
    customers : DataFrame
        The generator's per-customer truth.
    end : str
        The extract date: no event or resolution after it.
    seed : int
        The generator's seed; this module draws from its own child stream.
    effect : bool
        Plant the complaints before churn (False: events independent of churn).

    Returns
    -------
    DataFrame
        One row per event; ``severity`` only for complaints, ``score`` only for surveys,
        ``resolved_date`` NaT when not resolved by ``end``.
    """
    truth = truth or ServiceTruth()
    g = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5E5F]))
    end_d = np.datetime64(end, "D")
    first = customers["first_date"].to_numpy().astype("datetime64[D]")
    stop = np.full(first.size, end_d + 1)
    pieces = []
    for kind, rate in (
        ("投诉", truth.complaint_rate),
        ("服务请求", truth.request_rate * 0.7),
        ("业务咨询", truth.request_rate * 0.3),
        ("满意度调查", truth.survey_rate),
    ):
        owner, day = _poisson_days(g, first, stop, rate)
        pieces.append((kind, owner, day, np.zeros(owner.size, bool)))
    if effect:
        gone = churn_day(customers)
        dead = ~np.isnat(gone)
        lo = np.maximum(gone - truth.churn_window_days, first)
        hi = np.minimum(gone + truth.churn_tail_days, end_d + 1)
        idx = np.flatnonzero(dead)
        owner, day = _poisson_days(g, lo[idx], hi[idx], truth.churn_complaint_rate)
        pieces.append(("投诉", idx[owner], day, np.ones(owner.size, bool)))
    frames = [_describe(g, truth, *piece, customers, end_d, effect) for piece in pieces]
    events = pd.concat(frames, ignore_index=True)
    events = events.sort_values(["date", "customer_id", "type"], kind="stable", ignore_index=True)
    serial = np.arange(len(events)) + 1
    events.insert(0, "event_id", [f"SR{i:08d}" for i in serial])
    return events


def _describe(g, truth, kind, owner, day, churn_driven, customers, end_d, effect):
    """Severity, score and resolution of one kind's events."""
    size = owner.size
    severity = np.full(size, None, dtype=object)
    score = np.full(size, np.nan)
    resolved = np.full(size, np.datetime64("NaT"), dtype="datetime64[D]")
    if kind == "投诉":
        severity = np.asarray(SEVERITIES, dtype=object)[g.choice(3, size=size, p=[0.2, 0.5, 0.3])]
        share = np.where(churn_driven, truth.churn_unresolved_share, truth.unresolved_share)
        lag = np.ceil(g.exponential(truth.resolve_days, size=size)).astype("int64")
        resolved = np.where(g.random(size) >= share, day + lag, np.datetime64("NaT"))
    elif kind == "满意度调查":
        plain = g.choice(5, size=size, p=truth.scores) + 1
        unhappy = g.choice(5, size=size, p=truth.churn_scores) + 1
        gone = churn_day(customers)[owner]
        window = (day >= gone - truth.churn_window_days) & (day <= gone + truth.churn_tail_days)
        score = np.where(effect & window, unhappy, plain).astype(float)
    else:
        lag = np.ceil(g.exponential(3.0, size=size)).astype("int64")
        resolved = day + lag
    resolved = np.where(resolved > end_d, np.datetime64("NaT"), resolved)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(dtype=object)[owner],
            "date": day.astype("datetime64[ns]"),
            "type": kind,
            "severity": severity,
            "score": score,
            "resolved_date": resolved.astype("datetime64[ns]"),
        }
    )


def format_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The events as the extract's strings (YYYYMMDD dates; blank where none)."""
    resolved = events["resolved_date"].dt.strftime("%Y%m%d").fillna("")
    score = events["score"].map(lambda v: "" if np.isnan(v) else str(int(v)))
    return pd.DataFrame(
        {
            "工单号": events["event_id"].to_numpy(dtype=object),
            "客户号": events["customer_id"].to_numpy(dtype=object),
            "事件日期": events["date"].dt.strftime("%Y%m%d").to_numpy(dtype=object),
            "事件类型": events["type"].to_numpy(dtype=object),
            "严重程度": events["severity"].fillna("").to_numpy(dtype=object),
            "满意度": score.to_numpy(dtype=object),
            "解决日期": resolved.to_numpy(dtype=object),
        }
    )
