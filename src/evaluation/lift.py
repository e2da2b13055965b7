"""Measured lift of a treated group over its control, with honest uncertainty.

Rates (responded, converted, active again): the Newcombe hybrid Wilson score interval
for the difference of two proportions and a pooled two-proportion z-test. Money (revenue,
value): a seeded percentile bootstrap of the difference of means and Welch's t-test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: a control group smaller than this cannot support a conclusion
MIN_CONTROL = 100
#: nor can an interval wider than this many times the absolute lift (or 0.2 for rates)
MAX_RELATIVE_WIDTH = 4.0


@dataclass(frozen=True)
class Lift:
    """One outcome of one treated-vs-control comparison."""

    treated: float
    control: float
    lift: float
    ci_low: float
    ci_high: float
    p_value: float

    def as_dict(self) -> dict[str, float]:
        return {
            "treated": self.treated,
            "control": self.control,
            "lift": self.lift,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
        }


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for one proportion.

    Parameters
    ----------
    successes, n : int
        Count of successes out of ``n`` trials (``n > 0``).
    z : float
        Standard normal quantile (1.96 for 95%).

    Returns
    -------
    (low, high) : tuple of float
        :math:`\\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}`
        (Wilson 1927).
    """
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denom = 1 + z2 / n
    return max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom)


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, z: float = 1.959963984540054
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for :math:`p_1 - p_2` (Newcombe 1998, method 10).

    Parameters
    ----------
    x1, n1 : int
        Successes and size of the treated group.
    x2, n2 : int
        Successes and size of the control group.
    z : float
        Standard normal quantile.

    Returns
    -------
    (low, high) : tuple of float
        With Wilson limits :math:`(l_i, u_i)` for each group and :math:`D = \\hat p_1 - \\hat p_2`,
        :math:`L = D - \\sqrt{(\\hat p_1 - l_1)^2 + (u_2 - \\hat p_2)^2}` and
        :math:`U = D + \\sqrt{(u_1 - \\hat p_1)^2 + (\\hat p_2 - l_2)^2}`.
        Newcombe, R. G. (1998), "Interval estimation for the difference between independent
        proportions: comparison of eleven methods", Statistics in Medicine 17, 873-890.
    """
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of :math:`p_1 = p_2`.

    Parameters
    ----------
    x1, n1, x2, n2 : int
        Successes and sizes of the two groups.

    Returns
    -------
    float
        :math:`2\\,(1 - \\Phi(|z|))` with :math:`z = (\\hat p_1 - \\hat p_2) /
        \\sqrt{\\bar p (1-\\bar p)(1/n_1 + 1/n_2)}`, :math:`\\bar p = (x_1+x_2)/(n_1+n_2)`;
        1 when both groups are all successes or all failures.
    """
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(var)
    return float(2 * stats.norm.sf(abs(z)))


def rate_lift(treated: np.ndarray, control: np.ndarray) -> Lift:
    """Lift of a 0/1 outcome: rates, difference, Newcombe 95% interval and z-test p-value.

    Parameters
    ----------
    treated, control : numpy.ndarray
        0/1 outcomes of each group (both non-empty).

    Returns
    -------
    Lift
    """
    x1, n1 = int(np.sum(treated)), len(treated)
    x2, n2 = int(np.sum(control)), len(control)
    low, high = newcombe_interval(x1, n1, x2, n2)
    return Lift(
        x1 / n1, x2 / n2, x1 / n1 - x2 / n2, low, high, two_proportion_p_value(x1, n1, x2, n2)
    )


def welch_p_value(treated: np.ndarray, control: np.ndarray) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test (Welch 1947).

    Parameters
    ----------
    treated, control : numpy.ndarray
        Outcome values of each group.

    Returns
    -------
    float
        From :math:`t = (\\bar x_1 - \\bar x_2)/\\sqrt{s_1^2/n_1 + s_2^2/n_2}` with the
        Welch-Satterthwaite degrees of freedom; 1 when both variances are zero and the means
        agree, 0 when they are zero and the means differ.
    """
    v1 = np.var(treated, ddof=1) / len(treated) if len(treated) > 1 else 0.0
    v2 = np.var(control, ddof=1) / len(control) if len(control) > 1 else 0.0
    diff = float(np.mean(treated) - np.mean(control))
    if v1 + v2 <= 0:
        return 1.0 if diff == 0 else 0.0
    return float(stats.ttest_ind(treated, control, equal_var=False).pvalue)


def bootstrap_mean_difference(
    treated: np.ndarray, control: np.ndarray, seed: int, draws: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Seeded percentile bootstrap interval of :math:`\\bar x_1 - \\bar x_2`.

    Parameters
    ----------
    treated, control : numpy.ndarray
        Outcome values of each group.
    seed : int
        Seed of the resampling (same inputs and seed, same interval).
    draws : int
        Bootstrap replicates; each resamples both groups with replacement (Efron &
        Tibshirani 1993, ch. 13), in batches of at most two million indices.
    level : float
        Coverage.

    Returns
    -------
    (low, high) : tuple of float
        The ``(1-level)/2`` and ``(1+level)/2`` quantiles of the replicated differences.
    """
    rng = np.random.default_rng(seed)
    means = []
    for values in (np.asarray(treated, float), np.asarray(control, float)):
        n = len(values)
        batch = max(1, min(draws, 2_000_000 // max(n, 1)))
        out = np.empty(draws)
        for start in range(0, draws, batch):
            stop = min(draws, start + batch)
            out[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
        means.append(out)
    diffs = means[0] - means[1]
    tail = (1 - level) / 2
    return float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail))


def mean_lift(treated: np.ndarray, control: np.ndarray, seed: int, draws: int = 2000) -> Lift:
    """Lift of a money outcome: means, difference, bootstrap 95% interval, Welch p-value.

    Parameters
    ----------
    treated, control : numpy.ndarray
        Outcome values of each group (both non-empty).
    seed, draws : int
        See :func:`bootstrap_mean_difference`.

    Returns
    -------
    Lift
    """
    low, high = bootstrap_mean_difference(treated, control, seed, draws)
    t, c = float(np.mean(treated)), float(np.mean(control))
    return Lift(t, c, t - c, low, high, welch_p_value(treated, control))


def economics(value_lift: float, treated: int, cost_per_contact: float) -> dict[str, float | None]:
    """Incremental value, cost and ROI of a campaign.

    Parameters
    ----------
    value_lift : float
        Lift of the mean value per contacted client (treated minus control).
    treated : int
        Clients contacted.
    cost_per_contact : float
        Cost of one contact.

    Returns
    -------
    dict
        ``incremental_value = value_lift x treated``, ``cost = treated x cost_per_contact``
        and ``roi = (incremental_value - cost) / cost`` (None when the cost is zero).
    """
    incremental = value_lift * treated
    cost = treated * cost_per_contact
    roi = (incremental - cost) / cost if cost > 0 else None
    return {"incremental_value": incremental, "cost": cost, "roi": roi}


def inconclusive(
    control: int, lift: Lift, rate: bool, min_control: int = MIN_CONTROL
) -> str | None:
    """Why a comparison cannot support a conclusion, or None when it can.

    Parameters
    ----------
    control : int
        Size of the control group.
    lift : Lift
        The comparison.
    rate : bool
        True for a 0/1 outcome (an interval wider than 0.2 is too wide), False for money (an
        interval wider than ``MAX_RELATIVE_WIDTH`` times the absolute lift is too wide).
    min_control : int
        The smallest control group that supports a conclusion.

    Returns
    -------
    str or None
        ``"control too small to conclude (N < 100)"`` or ``"interval too wide to conclude"``.
    """
    if control < min_control:
        return f"control too small to conclude ({control} < {min_control})"
    width = lift.ci_high - lift.ci_low
    limit = 0.2 if rate else MAX_RELATIVE_WIDTH * abs(lift.lift)
    if width > limit and lift.ci_low < 0 < lift.ci_high:
        return "interval too wide to conclude"
    return None


def shrunk_rate(measured: Lift | None, prior: float, prior_strength: float = 0.05) -> float:
    """The response rate a contact is expected to achieve: measured lift shrunk to the prior.

    Parameters
    ----------
    measured : Lift or None
        The measured lift of the campaign's main rate outcome; None when there is none.
    prior : float
        The ``response_rate`` parameter.
    prior_strength : float
        Width of the prior expressed as a standard error.

    Returns
    -------
    float
        Precision-weighted mean :math:`w\\,\\hat\\ell + (1-w)\\,r_0` with
        :math:`w = \\tau^2 / (\\tau^2 + s^2)`, :math:`s` the standard error implied by the
        95% interval (width / 3.92) and :math:`\\tau` = ``prior_strength``; a wide interval
        leaves the prior nearly unchanged, a narrow one replaces it. Floored at 0.
    """
    if measured is None:
        return prior
    se = (measured.ci_high - measured.ci_low) / 3.92
    weight = prior_strength**2 / (prior_strength**2 + se**2)
    return max(0.0, weight * measured.lift + (1 - weight) * prior)
