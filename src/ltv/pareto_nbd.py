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
taken in log space (log(1 - exp(.))).

Fitting (:class:`ParetoLikelihood`): the 2F1 depends on a history only through (x, t_x) for the
lower and (x, T) for the upper limit, so it is evaluated once per distinct pair, and the
closed-form parts need only customer totals per distinct x and per distinct T. The gradient is
analytic in alpha and beta (differentiating under the integral shifts an exponent by one: one
more 2F1 each) and a central difference in r and s of the per-pair log integral only (the 2F1
has no closed-form derivative in its parameters); the chain rule to the total then costs three
weighted bincounts over the histories.

Predictions: P(alive) = 1 / (1 + s (alpha+T)^(r+x) (beta+T)^s I(t_x, T));
E[X(T, T+t] | alive] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)];
P(no purchase in (T, T+t] | alive) = E[exp(-lambda min(tau, t))] over the remaining lifetime tau,
= ((alpha+T)/(alpha+T+t))^(r+x) ((beta+T)/(beta+T+t))^s
  + s (alpha+T)^(r+x) (beta+T)^s I(T, T+t)   (death inside the window integrated exactly).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1

from ltv._base import Histories, TransactionModel, combined_codes, distinct_rows, first_rows
from ltv.bgnbd import softplus_and_sigmoid, wdot


def log_tail(p, q, alpha, beta, lo) -> np.ndarray:
    """log J = log int_lo^inf (alpha+tau)^-p (beta+tau)^-q dtau (p, q > 0, p + q > 1).

    Substituting alpha+tau = (alpha+lo)/y (or beta+tau for alpha < beta) gives Euler's integral
    J = 2F1(c, k; k+1; z) (m+lo)^-k / k with k = p+q-1, m = max(alpha, beta),
    z = |alpha-beta| / (m+lo) in [0, 1) and c = q if alpha >= beta else p: the stable form of
    Fader & Hardie's A0 term.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    lo = np.asarray(lo, dtype=float)
    k = p + q - 1.0
    if alpha >= beta:
        m, c, diff = alpha, q, alpha - beta
    else:
        m, c, diff = beta, p, beta - alpha
    return np.log(hyp2f1(k, c, k + 1, diff / (m + lo))) - k * np.log(m + lo) - np.log(k)


def log_tail_integral(r_x, s, alpha, beta, lo) -> np.ndarray:
    """log J(lo) = log int_lo^inf (alpha+tau)^-(r_x) (beta+tau)^-(s+1) dtau."""
    return log_tail(r_x, s + 1.0, alpha, beta, lo)


def log_tail_and_gradient(r_x, s, alpha, beta, lo) -> tuple[np.ndarray, np.ndarray]:
    """log J(lo) of :func:`log_tail_integral` and its derivatives in (r, alpha, s, beta).

    d/dalpha and d/dbeta are exact (differentiating under the integral raises the exponent:
    dJ/dalpha = -r_x J(r_x+1, s+1), dJ/dbeta = -(s+1) J(r_x, s+2)); d/dr and d/ds, which have
    no closed form, are central differences of log J in its exponents (step 1e-5, error
    ~1e-10).
    """
    q = s + 1.0
    base = log_tail(r_x, q, alpha, beta, lo)
    h = 1e-5
    d_r = (log_tail(r_x + h, q, alpha, beta, lo) - log_tail(r_x - h, q, alpha, beta, lo)) / (2 * h)
    d_s = (log_tail(r_x, q + h, alpha, beta, lo) - log_tail(r_x, q - h, alpha, beta, lo)) / (2 * h)
    d_alpha = -r_x * np.exp(log_tail(r_x + 1.0, q, alpha, beta, lo) - base)
    d_beta = -q * np.exp(log_tail(r_x, q + 1.0, alpha, beta, lo) - base)
    return base, np.stack([d_r, d_alpha, d_s, d_beta])


def log_one_minus_exp(gap: np.ndarray) -> np.ndarray:
    """log(1 - e^gap) for gap <= 0 (-inf at 0): vectorised exp/log, expm1 only near 0."""
    gap = np.minimum(np.asarray(gap, dtype=float), 0.0)
    with np.errstate(divide="ignore"):
        result = np.log(1.0 - np.exp(gap))
        near = gap > -1e-3
        if near.any():
            result[near] = np.log(-np.expm1(gap[near]))
    return result


def _pair_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) pairs of two equal-length arrays: (a values, b values, row codes)."""
    (ua, ub), _, codes = distinct_rows(a, b)
    return ua, ub, codes


def log_pareto_integral(r_x, s, alpha, beta, lo, hi) -> np.ndarray:
    """log of int_lo^hi (alpha+tau)^-(r_x) (beta+tau)^-(s+1) dtau = log(J(lo) - J(hi)).

    The 2F1 is evaluated once per distinct (r_x, lo) and (r_x, hi) pair.
    """
    r_x, lo, hi = np.broadcast_arrays(
        np.asarray(r_x, float), np.asarray(lo, float), np.asarray(hi, float)
    )
    shape = r_x.shape
    r_x, lo, hi = r_x.reshape(-1), lo.reshape(-1), hi.reshape(-1)
    if r_x.size > 1000:
        ra, la, code_lo = _pair_codes(r_x, lo)
        rb, hb, code_hi = _pair_codes(r_x, hi)
        log_lo = log_tail_integral(ra, s, alpha, beta, la)[code_lo]
        log_hi = log_tail_integral(rb, s, alpha, beta, hb)[code_hi]
    else:
        log_lo = log_tail_integral(r_x, s, alpha, beta, lo)
        log_hi = log_tail_integral(r_x, s, alpha, beta, hi)
    result = log_lo + log_one_minus_exp(log_hi - log_lo)
    return np.where(hi > lo, result, -np.inf).reshape(shape)


class ParetoNBDModel(TransactionModel):
    """Pareto/NBD model; parameters r, alpha (purchase rate), s, beta (lifetime)."""

    model_name = "pareto_nbd"
    param_names = ("r", "alpha", "s", "beta")
    analytic_gradient = False

    def _likelihood(self, data, weights):
        if isinstance(data, Histories):
            return ParetoLikelihood(self, data)
        return super()._likelihood(data, weights)

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


class ParetoLikelihood:
    """Weighted Pareto/NBD log-likelihood of compressed histories.

    log L = log H(x) + log A(x, T) + softplus(u),  A = (alpha+T)^-(r+x) (beta+T)^-s,
    u = log s + log(J(x, t_x) - J(x, T)) - log A(x, T)  (u = -inf when t_x = T),

    with J the tail integral of :func:`log_tail_integral`. ``sum_i w_i [log H + log A]`` needs
    only the customer totals per distinct x and per distinct T; the 2F1 runs once per distinct
    (x, t_x) and (x, T) pair, and only the softplus term per distinct history.
    """

    thin_above = 20_000
    thin_every = 10
    has_gradient = True

    def __init__(self, model: ParetoNBDModel, histories: Histories):
        h = histories
        self.model, self.histories = model, histories
        self.xs = h.x_values
        self.total = float(h.weights.sum())
        n_x, n_big = len(h.x_values), len(h.T_values)
        self.w_x = np.bincount(h.x_code, weights=h.weights, minlength=n_x)
        self.w_big = np.bincount(h.T_code, weights=h.weights, minlength=n_big)
        self.xw_big = np.bincount(h.T_code, weights=h.weights * h.x, minlength=n_big)
        self.big_values = h.T_values
        dead = h.t_x < h.T
        x_code, t_code, big_code = h.x_code[dead], h.t_x_code[dead], h.T_code[dead]
        self.d_w = h.weights[dead]
        self.lo_code = combined_codes((x_code, n_x), (t_code, len(h.t_x_values)))
        first = first_rows(self.lo_code, int(self.lo_code.max(initial=-1)) + 1)
        self.lo_x, self.lo_t = h.x_values[x_code[first]], h.t_x_values[t_code[first]]
        self.hi_code = combined_codes((x_code, n_x), (big_code, n_big))
        first = first_rows(self.hi_code, int(self.hi_code.max(initial=-1)) + 1)
        self.hi_x, self.hi_t = h.x_values[x_code[first]], h.T_values[big_code[first]]

    def loglik(self, theta) -> float:
        return self._evaluate(theta, gradient=False)[0]

    def loglik_and_gradient(self, theta) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient in log(r, alpha, s, beta)."""
        return self._evaluate(theta, gradient=True)

    def _evaluate(self, theta, gradient: bool):
        r, alpha, s, beta = theta
        log_alpha_big = np.log(alpha + self.big_values)
        log_beta_big = np.log(beta + self.big_values)
        head = self.w_x @ (gammaln(r + self.xs) - gammaln(r)) + self.total * (
            r * np.log(alpha) + s * np.log(beta)
        )
        alive = -(r * self.w_big + self.xw_big) @ log_alpha_big - s * (self.w_big @ log_beta_big)
        log_alpha_hi = np.log(alpha + self.hi_t)
        log_beta_hi = np.log(beta + self.hi_t)
        log_alive_hi = -(r + self.hi_x) * log_alpha_hi - s * log_beta_hi
        if gradient:
            log_lo, d_lo = log_tail_and_gradient(r + self.lo_x, s, alpha, beta, self.lo_t)
            log_hi, d_hi = log_tail_and_gradient(r + self.hi_x, s, alpha, beta, self.hi_t)
        else:
            log_lo = log_tail_integral(r + self.lo_x, s, alpha, beta, self.lo_t)
            log_hi = log_tail_integral(r + self.hi_x, s, alpha, beta, self.hi_t)
        jl = log_lo[self.lo_code]
        gap = np.minimum(log_hi[self.hi_code] - jl, 0.0)
        ratio = np.exp(gap)  # J(T) / J(t_x)
        one_minus = 1.0 - ratio
        near = gap > -1e-3
        if near.any():
            one_minus[near] = -np.expm1(gap[near])
        with np.errstate(divide="ignore"):
            u = np.log(one_minus)
        u += jl
        u -= (log_alive_hi - np.log(s))[self.hi_code]
        softplus, sigmoid = softplus_and_sigmoid(u)
        ll = float(head + alive + wdot(self.d_w, softplus))
        if not gradient:
            return ll, None
        # d u = d log I - d log A (+ 1/s),  d log I = (d log J_lo - ratio d log J_hi) / (1 - ratio)
        sw = self.d_w * sigmoid
        scaled = np.divide(sw, one_minus, out=np.zeros_like(sw), where=one_minus > 0)
        n_lo, n_hi = len(self.lo_x), len(self.hi_x)
        by_lo = np.bincount(self.lo_code, weights=scaled, minlength=n_lo)
        scaled *= ratio
        by_hi = np.bincount(self.hi_code, weights=scaled, minlength=n_hi)
        sw_hi = np.bincount(self.hi_code, weights=sw, minlength=n_hi)
        d_log_alive = np.stack(
            [
                -log_alpha_hi,
                -(r + self.hi_x) / (alpha + self.hi_t),
                -log_beta_hi,
                -s / (beta + self.hi_t),
            ]
        )
        grad = d_lo @ by_lo - d_hi @ by_hi - d_log_alive @ sw_hi
        grad[2] += sw.sum() / s
        inv_alpha_big = 1.0 / (alpha + self.big_values)
        grad += [
            self.w_x @ (digamma(r + self.xs) - digamma(r))
            + self.total * np.log(alpha)
            - self.w_big @ log_alpha_big,
            self.total * r / alpha - (r * self.w_big + self.xw_big) @ inv_alpha_big,
            self.total * np.log(beta) - self.w_big @ log_beta_big,
            self.total * s / beta - s * (self.w_big @ (1.0 / (beta + self.big_values))),
        ]
        return ll, grad * theta

    def thinned(self) -> ParetoLikelihood | None:
        """The likelihood of a deterministic subsample of the histories (for a warm start)."""
        if len(self.histories.weights) <= self.thin_above:
            return None
        return type(self)(self.model, self.histories.thinned(self.thin_every))
