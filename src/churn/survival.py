"""Survival view of churn: how long after a transaction does the next one come, if ever.

Unit of analysis: the *gap* that follows each distinct transaction day of a customer. A gap
ends with an event when the customer transacts again; the open gap after the last
transaction is censored at the cut-off (``duration = days_since_last``).

Cox proportional hazards (Cox 1972; Efron 1977 ties, Breslow baseline) on per-customer
covariates ``x``, fitted by a vectorised Newton-Raphson (:func:`efron_cox`, the objective of
lifelines' ``CoxPHFitter`` at a fraction of its time on hundreds of thousands of tied gaps)::

    h(t | x) = h0(t) exp(beta' (x - x_mean)),   S(t | x) = exp(-H0(t) exp(beta' (x - x_mean)))

Churn probability for a customer silent for ``d`` days (no transaction in the next ``h``)::

    P(churn) = S(d + h | x) / S(d | x) = exp(-[H0(d + h) - H0(d)] exp(beta'(x - x_mean)))

Beyond the longest observed gap the baseline is flat (no evidence of returns), so a customer
silent for longer than anyone ever came back gets a churn probability of 1.

*Inactivity* is a silence of ``h`` days. ``median_days_to_inactivity`` is the median time
from the cut-off until the customer's silence first reaches ``h``: the current gap reaches
``h`` with probability ``q0 = S(h)/S(d)`` (after ``h - d`` days); each later gap reaches it
with probability ``p = S(h)``; so the number ``K`` of returns first is geometric and its
median is ``k = ceil(log(0.5 / (1 - q0)) / log(1 - p))``. Replacing each return's waiting
time by its conditional mean ``E[gap | gap < h]`` gives ``h - d`` (``k = 0``) or
``r0 + (k - 1) m + h`` days, capped at ``cap_days`` (an approximation, stated as such).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from kequn.log import get_logger

log = get_logger("churn")

#: fewer observed returns than this: the model keeps only the baseline (no covariates)
MIN_EVENTS_FOR_COX = 20


def inter_purchase_gaps(transactions: pd.DataFrame, cutoff: dt.date) -> pd.DataFrame:
    """Gaps between a customer's distinct transaction days on or before ``cutoff``.

    Returns ``customer_id, start, duration_days, event``: ``event = 1`` when the next
    transaction day is observed (``duration`` = days to it), ``0`` for the open gap after
    the last transaction (censored at ``cutoff``; a zero-day open gap counts as half a day).
    """
    end = pd.Timestamp(cutoff)
    dates = pd.to_datetime(transactions["date"]).to_numpy()
    kept = dates <= end.to_datetime64()
    # (customer, day) as one integer key: customers coded in sorted order, so np.unique
    # sorts by customer, then day, and drops same-day repeats in one pass. The ids are
    # factorised as stored (an Arrow-backed column makes no Python string per row; only
    # the distinct ids become objects below), and every per-row temporary is freed as
    # soon as it is used (memory: a few int64 arrays of the transactions at a time).
    codes, customers = pd.factorize(transactions["customer_id"][kept], sort=True)
    day = dates[kept].astype("datetime64[D]").astype(np.int64)
    del dates, kept
    known = codes >= 0  # a missing customer id belongs to no one
    codes, day = codes[known].astype(np.int64), day[known]
    del known
    first = int(day.min()) if len(day) else 0
    span = (int(day.max()) - first + 1) if len(day) else 1
    codes *= span
    codes += day - first
    del day
    key = np.unique(codes)
    del codes
    customer, day = key // span, key % span + first
    del key
    event = np.r_[customer[1:] == customer[:-1], False] if len(customer) else np.zeros(0, bool)
    end_day = end.to_datetime64().astype("datetime64[D]").astype(np.int64)
    duration = np.where(event, np.r_[day[1:], 0], end_day)
    duration -= day
    duration = duration.astype(float)
    return pd.DataFrame(
        {
            "customer_id": np.asarray(customers, dtype=object)[customer],
            "start": day.astype("datetime64[D]").astype("datetime64[ns]"),
            "duration_days": np.where(duration > 0, duration, 0.5),
            "event": event.astype(np.int8),
        }
    )


def gaps_at(gaps: pd.DataFrame, cutoff: dt.date) -> pd.DataFrame:
    """:func:`inter_purchase_gaps` as of an earlier ``cutoff``, from the gaps at a later date.

    Keeps the gaps that start on or before ``cutoff``; one whose next transaction comes after
    ``cutoff`` becomes the open gap, censored at ``cutoff`` (a zero-day open gap counts as
    half a day), exactly as if the transactions had been cut at ``cutoff``.
    """
    end = pd.Timestamp(cutoff)
    kept = gaps.loc[gaps["start"].to_numpy() <= end.to_datetime64()].reset_index(drop=True)
    start = pd.to_datetime(kept["start"])
    censored_days = (end - start).dt.days.to_numpy(dtype=float)
    returns_by_cutoff = (kept["event"].to_numpy() == 1) & (
        kept["duration_days"].to_numpy(dtype=float) <= censored_days
    )
    duration = np.where(
        returns_by_cutoff, kept["duration_days"].to_numpy(dtype=float), censored_days
    )
    duration = np.where(duration > 0, duration, 0.5)
    return kept.assign(duration_days=duration, event=returns_by_cutoff.astype(np.int8))


def client_type_levels(features: pd.DataFrame) -> list[str] | None:
    """The sorted non-empty client types of ``features`` (None without the column): fixed at
    the fit so that every scored chunk gets the same indicator columns."""
    if "client_type" not in features:
        return None
    return sorted(set(features["client_type"].fillna("").astype(str)) - {""})


def survival_covariates(
    features: pd.DataFrame, client_types: list[str] | None = None
) -> pd.DataFrame:
    """Per-customer Cox covariates from the feature table, indexed by ``customer_id``.

    Recency is *not* a covariate: it is the time already spent in the open gap, which the
    model conditions on. Frequency, usual gap, value, tenure, trend, product and channel
    mix and client type are. Client type is one indicator per level but the first
    (the reference); the levels are ``client_types`` when given (those of the fit, so a
    chunk that lacks a level still codes the others the same way), else the column's own.
    """
    f = features.set_index("customer_id")
    frequency = pd.to_numeric(f["frequency"]).astype(float)
    tenure = pd.to_numeric(f["tenure_days"]).astype(float).clip(lower=0)
    gap_mean = pd.to_numeric(f["gap_mean_days"]).astype(float)
    value = pd.to_numeric(f.get("mean_value", f.get("monetary_value", 0.0))).astype(float)
    out = pd.DataFrame(index=f.index)
    out["log_frequency"] = np.log1p(frequency)
    out["log_usual_gap"] = np.log1p(gap_mean.fillna(tenure))
    out["one_time"] = (frequency <= 0).astype(float)
    out["log_value"] = np.sign(value) * np.log1p(value.abs())
    out["log_tenure"] = np.log1p(tenure)
    if "value_trend" in f:
        out["value_trend"] = pd.to_numeric(f["value_trend"]).astype(float).fillna(0.0)
    if "n_products" in f:
        out["n_products"] = pd.to_numeric(f["n_products"]).astype(float).fillna(0.0)
    for column in sorted(
        c for c in f.columns if c.startswith(("share_product_", "share_channel_"))
    ):
        out[column] = pd.to_numeric(f[column]).astype(float).fillna(0.0)
    if "client_type" in f:
        kinds = f["client_type"].fillna("").astype(str)
        levels = client_types if client_types is not None else sorted(set(kinds) - {""})
        for kind in levels[1:]:  # first type is the reference level
            out[f"client_type_{kind}"] = (kinds == kind).astype(float)
    return out.fillna(0.0)


def efron_cox(
    durations: np.ndarray,
    events: np.ndarray,
    x: np.ndarray,
    penalizer: float = 0.0,
    max_steps: int = 200,
    tolerance: float = 1e-9,
) -> np.ndarray:
    """Coefficients maximising Efron's (1977) partial likelihood, vectorised Newton-Raphson.

    For the distinct event times ``t_j`` with ``d_j`` events ``D_j`` and risk set ``R_j``
    (``T_i >= t_j``), ``w_i = exp(beta' x_i)``, ``S_j = sum_{R_j} w``, ``E_j = sum_{D_j} w``::

        log L(beta) = sum_{events} beta' x_i
                      - sum_j sum_{l=0}^{d_j - 1} log(S_j - (l / d_j) E_j)
                      - n penalizer |beta|^2 / 2

    The same objective as lifelines' ``CoxPHFitter`` (Efron ties, L2 penalty scaled by the
    number of rows); ``x`` is expected standardised, as lifelines does before fitting. The
    risk-set sums of ``w x x'`` are never formed per time: with ``c_j = sum_l 1 / D_jl``,
    ``sum_j c_j S2_j = X' diag(w C) X`` where ``C_i = sum_{t_j <= T_i} c_j``, so every
    Newton step costs one ``n x p x p`` product. Raises ``FloatingPointError`` when the
    iteration does not reach a finite optimum.
    """
    t = np.asarray(durations, dtype=float)
    order = np.argsort(t, kind="stable")  # rows by time: per-time sums are contiguous blocks
    t = t[order]
    e = np.asarray(events, dtype=float)[order] > 0
    x = np.asarray(x, dtype=float)[order]
    n, p = x.shape
    times, first_row, group = np.unique(t, return_index=True, return_inverse=True)
    n_times = len(times)
    deaths = np.bincount(group, weights=e, minlength=n_times)
    event_time = np.flatnonzero(deaths > 0)  # indices into ``times``
    d = deaths[event_time].astype(np.int64)
    j_of_l = np.repeat(np.arange(len(d)), d)  # one entry per event: its time index j ...
    share = (np.arange(d.sum()) - np.repeat(np.cumsum(d) - d, d)) / d[j_of_l]  # ... and l / d_j
    # position of each row among the event times: number of event times <= T_i
    times_up_to = np.cumsum(deaths > 0)[group]
    row_j = times_up_to - 1  # the event time of an event row (its own time)
    x_events = x[e].sum(axis=0)
    n_events = int(e.sum())
    ridge = n * float(penalizer)

    def by_time(values: np.ndarray) -> np.ndarray:
        """Sums per distinct time of ``values`` (n or n x p; rows sorted by time)."""
        return np.add.reduceat(values, first_row, axis=0)

    def evaluate(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        eta = x @ beta
        shift = eta.max() if n else 0.0
        w = np.exp(eta - shift)
        risk0 = np.cumsum(by_time(w)[::-1])[::-1][event_time]
        tied0 = by_time(w * e)[event_time]
        denominator = risk0[j_of_l] - share * tied0[j_of_l]
        loglik = float(
            eta[e].sum() - np.log(denominator).sum() - n_events * shift
        ) - 0.5 * ridge * float(beta @ beta)
        inv = 1.0 / denominator
        c = np.bincount(j_of_l, weights=inv, minlength=len(d))
        ca = np.bincount(j_of_l, weights=share * inv, minlength=len(d))
        q0 = np.bincount(j_of_l, weights=inv**2, minlength=len(d))
        q1 = np.bincount(j_of_l, weights=share * inv**2, minlength=len(d))
        q2 = np.bincount(j_of_l, weights=share**2 * inv**2, minlength=len(d))
        cumulative = np.concatenate([[0.0], np.cumsum(c)])[times_up_to]
        v = w * (cumulative - np.where(e, ca[row_j], 0.0))
        gradient = x_events - x.T @ v - ridge * beta
        wx = w[:, None] * x
        risk1 = np.cumsum(by_time(wx)[::-1], axis=0)[::-1][event_time]
        tied1 = by_time(wx * e[:, None])[event_time]
        outer = (
            risk1.T @ (q0[:, None] * risk1)
            - risk1.T @ (q1[:, None] * tied1)
            - tied1.T @ (q1[:, None] * risk1)
            + tied1.T @ (q2[:, None] * tied1)
        )
        information = x.T @ (v[:, None] * x) - outer + ridge * np.eye(p)
        return loglik, gradient, information

    beta = np.zeros(p)
    loglik, gradient, information = evaluate(beta)
    for _ in range(max_steps):
        delta = np.linalg.solve(information, gradient)
        step = 1.0
        while True:  # step halving: the penalised log partial likelihood is concave
            candidate = evaluate(beta + step * delta)
            if np.isfinite(candidate[0]) and candidate[0] >= loglik - 1e-12 * abs(loglik):
                break
            step /= 2
            if step < 1e-8:
                raise FloatingPointError("Cox partial likelihood: no ascent step")
        beta = beta + step * delta
        previous = loglik
        loglik, gradient, information = candidate
        if np.max(np.abs(step * delta)) < tolerance or abs(loglik - previous) <= 1e-13 * max(
            abs(loglik), 1.0
        ):
            break
    if not np.isfinite(beta).all():
        raise FloatingPointError("Cox partial likelihood: no finite optimum")
    return beta


def concordance_index(
    durations: np.ndarray, predicted_times: np.ndarray, events: np.ndarray
) -> float:
    """Harrell's C (Harrell et al. 1996) with lifelines' conventions, vectorised per time.

    A pair is comparable when the earlier exit is an event (an event and a censoring at the
    same time are comparable, two events at the same time are not); it is concordant when
    the earlier exit has the smaller ``predicted_times``, and counts one half when the
    predictions tie. Loops over the distinct exit times (days), not over rows: the events
    seen so far are kept as one sorted array and each time's exits are ranked in it at once.
    NaN when no pair is comparable.
    """
    t = np.asarray(durations, dtype=float)
    score = np.asarray(predicted_times, dtype=float)
    e = np.asarray(events, dtype=float) > 0
    order = np.lexsort((score, ~e, t))  # by time, events before censorings, then score
    t, score, e = t[order], score[order], e[order]
    # block boundaries: runs of equal (time, event) in that order
    starts = np.flatnonzero(np.r_[True, (t[1:] != t[:-1]) | (e[1:] != e[:-1])])
    ends = np.r_[starts[1:], len(t)]
    pool = np.empty(0)
    correct = tied = pairs = 0
    for start, end in zip(starts, ends, strict=True):
        block = score[start:end]
        below = np.searchsorted(pool, block, side="left")
        not_above = np.searchsorted(pool, block, side="right")
        correct += int(below.sum())
        tied += int((not_above - below).sum())
        pairs += len(pool) * (end - start)
        if e[start]:
            pool = np.insert(pool, np.searchsorted(pool, block), block)
    return (correct + tied / 2) / pairs if pairs else float("nan")


def breslow_cumulative_hazard(
    durations: np.ndarray, events: np.ndarray, partial_hazard: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow (1972) baseline ``H0(t) = sum_{t_i <= t} d_i / sum_{T_k >= t_i} r_k``.

    Returns the distinct durations and ``H0`` there (a step function); with every partial
    hazard ``r = 1`` it is the Nelson-Aalen estimator.
    """
    times, group = np.unique(np.asarray(durations, dtype=float), return_inverse=True)
    deaths = np.bincount(group, weights=np.asarray(events, dtype=float), minlength=len(times))
    at_risk = np.cumsum(np.bincount(group, weights=partial_hazard, minlength=len(times))[::-1])
    return times, np.cumsum(deaths / np.maximum(at_risk[::-1], 1e-300))


class GapSurvivalModel:
    """Cox PH model of the time from a transaction to the next one (see module docstring).

    Fitted attributes: ``coef_`` (Series, log hazard ratios; empty when only the baseline
    could be fitted), ``concordance_index_`` (Harrell's C on the training gaps, NaN without
    covariates), ``baseline_times_`` / ``baseline_cumulative_hazard_`` (Breslow step
    function, days), ``covariate_means_``, ``n_gaps_``, ``n_events_``.
    """

    def __init__(self, penalizer: float = 0.01, max_gaps: int | None = 60_000, seed: int = 0):
        self.penalizer = penalizer
        self.max_gaps = max_gaps
        self.seed = seed

    def fit(self, gaps: pd.DataFrame, covariates: pd.DataFrame) -> GapSurvivalModel:
        """Fit on ``gaps`` (customer_id, duration_days, event) with per-customer covariates.

        With more than ``max_gaps`` gaps a uniform random sample of that many (seeded) is
        used: the partial likelihood and the Breslow baseline of a uniform sample estimate
        the same quantities, and the fit time stays bounded (60,000 gaps: about 0.2 s).
        """
        table = gaps[["customer_id", "duration_days", "event"]]
        table = table.loc[table["customer_id"].isin(covariates.index)]
        if self.max_gaps is not None and len(table) > self.max_gaps:
            table = table.sample(n=self.max_gaps, random_state=self.seed % (2**32))
            table = table.sort_index()
        table = table.join(covariates, on="customer_id", how="inner")
        columns = [c for c in covariates.columns if table[c].std() > 1e-9]
        self.n_gaps_ = len(table)
        self.n_events_ = int(table["event"].sum())
        self.coef_ = pd.Series(dtype=float)
        self.covariate_means_ = pd.Series(dtype=float)
        self.concordance_index_ = float("nan")
        if self.n_events_ >= MIN_EVENTS_FOR_COX and columns:
            try:
                self._fit_cox(table, columns)
                return self
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
                log.warning("Cox model did not converge (%s); using the baseline only", exc)
        self._fit_baseline(table)
        return self

    def _fit_cox(self, table: pd.DataFrame, columns: list[str]) -> None:
        """Efron partial likelihood on standardised covariates (as lifelines' CoxPHFitter),
        Breslow baseline at the centred covariates, Harrell's C on the training gaps."""
        x = table[columns].to_numpy(dtype=float)
        durations = table["duration_days"].to_numpy(dtype=float)
        events = table["event"].to_numpy(dtype=float)
        means = x.mean(axis=0)
        scales = x.std(axis=0, ddof=1)
        standardised = efron_cox(durations, events, (x - means) / scales, self.penalizer)
        coef = standardised / scales
        self.coef_ = pd.Series(coef, index=columns, dtype=float)
        self.covariate_means_ = pd.Series(means, index=columns, dtype=float)
        hazard = np.exp(np.clip((x - means) @ coef, -30, 30))
        self.concordance_index_ = concordance_index(durations, -hazard, events)
        self.baseline_times_, self.baseline_cumulative_hazard_ = breslow_cumulative_hazard(
            durations, events, hazard
        )

    def _fit_baseline(self, table: pd.DataFrame) -> None:
        """Nelson-Aalen cumulative hazard H(t) = sum over event times t_i <= t of d_i / n_i."""
        durations = table["duration_days"].to_numpy(dtype=float)
        events = table["event"].to_numpy(dtype=float)
        self.baseline_times_, self.baseline_cumulative_hazard_ = breslow_cumulative_hazard(
            durations, events, np.ones(len(durations))
        )

    def partial_hazard(self, covariates: pd.DataFrame) -> np.ndarray:
        """exp(beta'(x - x_mean)) per row of ``covariates`` (1 without covariates)."""
        if self.coef_.empty:
            return np.ones(len(covariates))
        x = covariates.reindex(columns=self.coef_.index, fill_value=0.0).to_numpy(dtype=float)
        eta = (x - self.covariate_means_.to_numpy()) @ self.coef_.to_numpy()
        return np.exp(np.clip(eta, -30, 30))

    def baseline_hazard_at(self, days: np.ndarray) -> np.ndarray:
        """H0(t) evaluated at ``days`` (any shape): right-continuous step, flat past the end."""
        index = np.searchsorted(self.baseline_times_, np.asarray(days, dtype=float), side="right")
        padded = np.concatenate([[0.0], self.baseline_cumulative_hazard_])
        return padded[index]

    def survival(self, days: np.ndarray, covariates: pd.DataFrame) -> np.ndarray:
        """S(t | x) for each customer (rows) at ``days`` (n x k array or k-vector)."""
        hazard = self.partial_hazard(covariates)[:, None]
        grid = np.broadcast_to(np.asarray(days, dtype=float), (len(covariates), np.size(days)))
        return np.exp(-self.baseline_hazard_at(grid) * hazard)

    def churn_probability(
        self, days_since_last: np.ndarray, horizon_days: int, covariates: pd.DataFrame
    ) -> np.ndarray:
        """P(no transaction in the next ``horizon_days`` | silent ``days_since_last`` days)."""
        d = np.asarray(days_since_last, dtype=float)
        rise = self.baseline_hazard_at(d + horizon_days) - self.baseline_hazard_at(d)
        return np.clip(np.exp(-rise * self.partial_hazard(covariates)), 0.0, 1.0)

    def median_days_to_inactivity(
        self,
        days_since_last: np.ndarray,
        horizon_days: int,
        covariates: pd.DataFrame,
        cap_days: float,
        grid_points: int = 97,
    ) -> np.ndarray:
        """Approximate median days until a silence of ``horizon_days`` (module docstring)."""
        h = float(horizon_days)
        d = np.minimum(np.asarray(days_since_last, dtype=float), h)
        grid = np.linspace(0.0, h, grid_points)
        surv = self.survival(grid, covariates)  # n x G
        s_h = surv[:, -1]
        s_d = self.survival_at_each(d, covariates)
        excess = np.clip(surv - s_h[:, None], 0.0, None)
        step = grid[1] - grid[0]
        mean_short_gap = np.trapezoid(excess, dx=step, axis=1) / np.maximum(1.0 - s_h, 1e-12)
        after_d = np.where(grid[None, :] >= d[:, None], excess, 0.0)
        residual = np.trapezoid(after_d, dx=step, axis=1) / np.maximum(s_d - s_h, 1e-12)
        q0 = np.where(d >= h, 1.0, s_h / np.maximum(s_d, 1e-12)).clip(0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            returns = np.ceil(np.log(0.5 / np.maximum(1.0 - q0, 1e-300)) / np.log1p(-s_h))
        returns = np.where(q0 >= 0.5, 0.0, np.nan_to_num(returns, nan=np.inf, posinf=np.inf))
        returns = np.where(s_h <= 0.0, np.inf, returns)  # a silence of h never happens
        days = np.where(
            returns == 0, h - d, residual + np.maximum(returns - 1, 0) * mean_short_gap + h
        )
        return np.minimum(np.nan_to_num(days, nan=cap_days, posinf=cap_days), cap_days)

    def survival_at_each(self, days: np.ndarray, covariates: pd.DataFrame) -> np.ndarray:
        """S(t_i | x_i): each customer's survival at their own time ``days[i]``."""
        return np.exp(-self.baseline_hazard_at(days) * self.partial_hazard(covariates))


def kaplan_meier(durations: np.ndarray, events: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Kaplan-Meier ``S(t) = prod_{t_i <= t} (1 - d_i / n_i)`` at ``days`` (Kaplan & Meier 1958).

    ``d_i`` events among the ``n_i`` gaps still open at the distinct duration ``t_i``;
    right-continuous steps, 1 before the first event (as lifelines' ``KaplanMeierFitter``).
    """
    times, group = np.unique(np.asarray(durations, dtype=float), return_inverse=True)
    deaths = np.bincount(group, weights=np.asarray(events, dtype=float), minlength=len(times))
    at_risk = np.cumsum(np.bincount(group, minlength=len(times))[::-1])[::-1].astype(float)
    with np.errstate(divide="ignore"):
        curve = np.exp(np.cumsum(np.log(at_risk - deaths) - np.log(at_risk)))
    index = np.searchsorted(times, np.asarray(days, dtype=float), side="right")
    return np.concatenate([[1.0], curve])[index]


def kaplan_meier_curves(
    gaps: pd.DataFrame, groups: pd.DataFrame, max_days: float, points: int = 60
) -> pd.DataFrame:
    """Kaplan-Meier S(t) = prod_{t_i <= t} (1 - d_i / n_i) of the gap to the next transaction.

    ``groups``: ``customer_id, group`` (a customer may sit in several groups, e.g. a value
    band and a client type). Returns ``days, survival, group`` on a common grid of days
    (0 .. ``max_days``): the share of gaps still without a next transaction after ``days``.
    """
    grid = np.unique(np.round(np.linspace(0.0, max_days, points)))
    customers = pd.Index(pd.unique(groups["customer_id"]))
    gap_customer = customers.get_indexer(gaps["customer_id"])
    member_customer = customers.get_indexer(groups["customer_id"])
    durations = gaps["duration_days"].to_numpy(dtype=float)
    events = gaps["event"].to_numpy(dtype=float)
    labels = groups["group"].astype(str).to_numpy()
    frames = []
    for name in sorted(set(labels)):
        member = np.zeros(len(customers) + 1, dtype=bool)  # the last slot: not in ``groups``
        member[member_customer[labels == name]] = True
        chosen = member[gap_customer]
        if not chosen.any():
            continue
        curve = kaplan_meier(durations[chosen], events[chosen], grid)
        frames.append(pd.DataFrame({"days": grid, "survival": curve.round(6), "group": name}))
    if not frames:
        return pd.DataFrame({"days": [], "survival": [], "group": []})
    return pd.concat(frames, ignore_index=True)
