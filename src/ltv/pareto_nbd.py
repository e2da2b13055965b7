"""Pareto/NBD transaction model (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) and dies
after an exponential lifetime with rate mu ~ Gamma(s, beta). For a history (x, t_x, T)

    L = Gamma(r+x) alpha^r beta^s / Gamma(r)
        * [ (alpha+T)^-(r+x) (beta+T)^-s + s * I(t_x, T) ],
    I(lo, hi) = int_lo^hi (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau = A0 / (r+s+x),

where A0 is the term of Fader & Hardie, "A note on implementing the Pareto/NBD model in
MATLAB" (2005): with k = r+s+x and m = max(alpha, beta),

    alpha >= beta: A0 = F(k, s+1; (alpha-beta)/(alpha+lo)) (alpha+lo)^-k - (same at hi)
    alpha <  beta: A0 = F(k, r+x; (beta-alpha)/(beta+lo)) (beta+lo)^-k  - (same at hi)

with F(k, c; z) = 2F1(k, c; k+1; z) and z in [0, 1) always (the stable choice). The difference is
taken in log space (log1p(-exp(.))). The gradient is the central difference of the weighted
mean log-likelihood over the distinct histories (the 2F1 has no closed-form parameter
derivative).

Predictions: P(alive) = 1 / (1 + s (alpha+T)^(r+x) (beta+T)^s I(t_x, T));
E[X(T, T+t] | alive] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)];
P(no purchase in (T, T+t] | alive) = E[exp(-lambda min(tau, t))] over the remaining lifetime tau,
= ((alpha+T)/(alpha+T+t))^(r+x) ((beta+T)/(beta+T+t))^s
  + s (alpha+T)^(r+x) (beta+T)^s I(T, T+t)   (death inside the window integrated exactly).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, hyp2f1

from ltv._base import TransactionModel


def log_pareto_integral(r_x, s, alpha, beta, lo, hi) -> np.ndarray:
    """log of int_lo^hi (alpha+tau)^-(r_x) (beta+tau)^-(s+1) dtau via the stable 2F1 form."""
    r_x, lo, hi = np.broadcast_arrays(
        np.asarray(r_x, float), np.asarray(lo, float), np.asarray(hi, float)
    )
    k = r_x + s
    if alpha >= beta:
        m, c = alpha, np.full_like(r_x, s + 1.0)
        diff = alpha - beta
    else:
        m, c = beta, r_x
        diff = beta - alpha
    log_lo = np.log(hyp2f1(k, c, k + 1, diff / (m + lo))) - k * np.log(m + lo)
    log_hi = np.log(hyp2f1(k, c, k + 1, diff / (m + hi))) - k * np.log(m + hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.minimum(log_hi - log_lo, 0.0)
        result = log_lo + np.log(-np.expm1(gap)) - np.log(k)
    return np.where(hi > lo, result, -np.inf)


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD model; parameters r, alpha (purchase rate), s, beta (lifetime)."""

    model_name = "pareto_nbd"
    param_names = ("r", "alpha", "s", "beta")
    analytic_gradient = False

    def _initial_log_params(self, x, t_x, T):
        rate = max(float(np.mean(x)), 1e-3) / max(float(np.mean(T)), 1e-3)
        return np.log(np.array([1.0, 1.0 / rate, 1.0, max(float(np.mean(T)), 1.0)]))

    def _log_likelihood(self, theta, x, t_x, T):
        r, alpha, s, beta = theta
        log_head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_dead = np.log(s) + log_pareto_integral(r + x, s, alpha, beta, t_x, T)
        return log_head + np.logaddexp(log_alive, log_dead)

    def _log_prob_alive(self, theta, x, t_x, T):
        r, alpha, s, beta = theta
        log_odds = (
            np.log(s)
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
            + log_pareto_integral(r + x, s, alpha, beta, t_x, T)
        )
        return -np.logaddexp(0.0, log_odds)

    def _alive_mean(self, theta, t, x, T):
        r, alpha, s, beta = theta
        log_ratio = np.log(beta + T) - np.log(beta + T + t)
        if abs(s - 1.0) < 1e-8:
            integral = -log_ratio
        else:
            integral = -np.expm1((s - 1) * log_ratio) / (s - 1)
        return (r + x) * (beta + T) / (alpha + T) * integral

    def _prob_quiet_if_alive(self, theta, t, x, T):
        r, alpha, s, beta = theta
        t = np.broadcast_to(np.asarray(t, dtype=float), np.shape(T))
        log_survive = (r + x) * (np.log(alpha + T) - np.log(alpha + T + t)) + s * (
            np.log(beta + T) - np.log(beta + T + t)
        )
        log_die_quiet = (
            np.log(s)
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
            + log_pareto_integral(r + x, s, alpha, beta, T, T + t)
        )
        return np.exp(np.logaddexp(log_survive, log_die_quiet))

    def expected_transactions_new(self, t) -> np.ndarray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]."""
        r, alpha, s, beta = self.theta_
        t = np.asarray(t, dtype=float)
        log_ratio = np.log(beta) - np.log(beta + t)
        if abs(s - 1.0) < 1e-8:
            return r / alpha * beta * (-log_ratio)
        return r * beta / (alpha * (s - 1)) * -np.expm1((s - 1) * log_ratio)
