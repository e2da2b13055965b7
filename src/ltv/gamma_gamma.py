"""Gamma-Gamma model of spend per transaction (Colombo & Jiang 1999; Fader & Hardie 2013,
"The Gamma-Gamma model of monetary value").

A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, v) across customers, so the
mean zbar of x transactions has the marginal density

    f(zbar | x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * v^q zbar^(px-1) x^(px) / (v + x zbar)^(px+q),

maximised (with its analytic gradient) over the distinct (x, zbar) pairs of repeat customers.
The conditional expected spend per transaction is

    E[Z | x, zbar] = p (v + x zbar) / (p x + q - 1)
                   = (q-1)/(px+q-1) * p v/(q-1) + px/(px+q-1) * zbar,

a weighted mean of the population mean p v/(q-1) and the customer's own mean (needs q > 1).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from ltv._base import BaseModel, _as_float_array, _count_message, distinct_rows


def validate_spend(frequency, monetary_value, *, fitting: bool) -> tuple[np.ndarray, np.ndarray]:
    """Check (frequency, monetary value); for fitting every row needs x > 0 and zbar > 0."""
    x = _as_float_array(frequency, "frequency")
    z = _as_float_array(monetary_value, "monetary_value")
    if len(x) != len(z):
        raise ValueError(f"frequency and monetary_value lengths differ: {len(x)} vs {len(z)}")
    if len(x) == 0:
        raise ValueError("no customers: frequency and monetary_value are empty")
    problems = []
    nan_x = np.isnan(x)
    if nan_x.any():
        problems.append(_count_message(int(nan_x.sum()), "have NaN frequency"))
    with np.errstate(invalid="ignore"):
        if np.any(x < 0):
            problems.append(_count_message(int((x < 0).sum()), "have negative frequency"))
        non_integer = ~nan_x & (x != np.round(x))
        if non_integer.any():
            problems.append(_count_message(int(non_integer.sum()), "have non-integer frequency"))
        if fitting:
            zero = x == 0
            if zero.any():
                problems.append(
                    _count_message(int(zero.sum()), "have frequency 0")
                    + " (fit Gamma-Gamma on repeat customers only: keep rows with frequency > 0)"
                )
            bad = ~(z > 0)
            if bad.any():
                problems.append(
                    _count_message(int(bad.sum()), "have non-positive or NaN monetary_value")
                    + " (keep rows with monetary_value > 0)"
                )
        else:
            bad = (x > 0) & ~(z > 0)
            if bad.any():
                problems.append(
                    _count_message(
                        int(bad.sum()), "have frequency > 0 but non-positive or NaN monetary_value"
                    )
                )
    if problems:
        raise ValueError("invalid spend data: " + "; ".join(problems))
    return x, np.where(x > 0, z, 0.0)


class GammaGammaModel(BaseModel):
    """Gamma-Gamma spend model; parameters p, q, v."""

    model_name = "gamma_gamma"
    param_names = ("p", "q", "v")

    def fit(self, frequency, monetary_value, weights=None) -> GammaGammaModel:
        """Fit on repeat customers (frequency > 0, monetary_value > 0 = mean repeat spend)."""
        x, z = validate_spend(frequency, monetary_value, fitting=True)
        if weights is None:
            weights = np.ones(len(x))
        (ux, uz), _, codes = distinct_rows(x, z)
        counts = np.bincount(codes, weights=_as_float_array(weights, "weights"))
        return self._fit_data([ux, uz], counts)

    def _initial_log_params(self, x, z):
        return np.log(np.array([1.0, 2.0, float(np.mean(z))]))

    def _log_likelihood(self, theta, x, z):
        p, q, v = theta
        px = p * x
        return (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(v)
            + (px - 1) * np.log(z)
            + px * np.log(x)
            - (px + q) * np.log(v + x * z)
        )

    def _log_likelihood_gradient(self, theta, x, z):
        p, q, v = theta
        px = p * x
        log_vxz = np.log(v + x * z)
        psi = digamma(px + q)
        d_p = x * (psi - digamma(px) + np.log(z) + np.log(x) - log_vxz)
        d_q = psi - digamma(q) + np.log(v) - log_vxz
        d_v = q / v - (px + q) / (v + x * z)
        grad = np.column_stack([d_p * p, d_q * q, d_v * v])
        return self._log_likelihood(theta, x, z), grad

    @staticmethod
    def _expected_value(theta, x, z):
        p, q, v = theta
        return p * (v + x * z) / (p * x + q - 1)

    def expected_value(self, frequency, monetary_value) -> np.ndarray:
        """Conditional expected spend per transaction E[Z | x, zbar] (population mean if x=0)."""
        x, z = validate_spend(frequency, monetary_value, fitting=False)
        return self._expected_value(self.theta_, x, z)

    def population_mean(self) -> float:
        """E[Z] = p v / (q - 1) for a customer with no repeat history."""
        p, q, v = self.theta_
        return float(p * v / (q - 1))
