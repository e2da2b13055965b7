"""BG/NBD transaction model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While active a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after
each repeat purchase they drop out with probability p ~ Beta(a, b). For a history
(x repeat purchases, last at t_x, observed for T) the likelihood is

    L = B(a, b+x)/B(a, b) * G * (alpha+T)^-(r+x)
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G * (alpha+t_x)^-(r+x),
    G = Gamma(r+x) alpha^r / Gamma(r),

evaluated in log space with ``betaln``/``gammaln``/``logaddexp``; its gradient is analytic.
Conditional on being alive at T the posterior is lambda ~ Gamma(r+x, alpha+T),
p ~ Beta(a, b+x), and E[X(T, T+t] | alive] = E_p[(1 - (1 + p t/(alpha+T))^-(r+x)) / p]
= (a+b+x-1)/(a-1) [1 - 2F1(r+x, a-1; a+b+x-1; -t/(alpha+T))] (the Pfaff transform of the
paper's eq. 10, bounded for large x).

The MBG/NBD model (Batislam, Denizel & Filiztekin 2007) shares all of this with a shift: the
customer may also drop out at time 0, so the Beta terms become B(a, b+x+1) and B(a+1, b+x)
and the second term is present for x = 0 too.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from ltv._base import Histories, TransactionModel


class BetaGeoModel(TransactionModel):
    """BG/NBD model; parameters r, alpha (purchase rate), a, b (dropout).

    >>> m = BetaGeoModel().fit(frequency, recency, T)   # doctest: +SKIP
    >>> m.params_                                       # {'r':..,'alpha':..,'a':..,'b':..}
    """

    model_name = "bgnbd"
    param_names = ("r", "alpha", "a", "b")
    #: shift of b in the "alive" Beta term and in the "dropped after t_x" term
    _alive_shift = 0
    _dead_shift = -1

    def _dead_term_mask(self, x: np.ndarray) -> np.ndarray:
        return x > 0

    def _likelihood(self, data, weights):
        if isinstance(data, Histories):
            return BetaGeoLikelihood(self, data)
        return super()._likelihood(data, weights)

    def _initial_log_params(self, x, t_x, T):
        rate = max(float(np.mean(x)), 1e-3) / max(float(np.mean(T)), 1e-3)
        return np.log(np.array([1.0, 1.0 / rate, 1.0, 2.0]))

    def _terms(self, theta, x, t_x, T):
        r, alpha, a, b = theta
        c2, c3 = self._alive_shift, self._dead_shift
        mask = self._dead_term_mask(x)
        # special functions depend on the history only through x: evaluate per distinct x
        xs, inverse = np.unique(x, return_inverse=True)
        xs_mask = self._dead_term_mask(xs)
        b3s = np.where(xs_mask, b + xs + c3, 1.0)
        log_a1 = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha))[inverse]
        beta2 = (betaln(a, b + xs + c2) - betaln(a, b))[inverse]
        beta3 = np.where(xs_mask, betaln(a + 1, b3s) - betaln(a, b), 0.0)[inverse]
        log_a2 = beta2 - (r + x) * np.log(alpha + T)
        log_a3 = np.where(mask, beta3 - (r + x) * np.log(alpha + t_x), -np.inf)
        return log_a1, log_a2, log_a3, mask, (xs, inverse, xs_mask, b3s)

    def _log_likelihood(self, theta, x, t_x, T):
        log_a1, log_a2, log_a3, _, _ = self._terms(theta, x, t_x, T)
        return log_a1 + np.logaddexp(log_a2, log_a3)

    def _log_likelihood_gradient(self, theta, x, t_x, T):
        r, alpha, a, b = theta
        c2 = self._alive_shift
        log_a1, log_a2, log_a3, mask, (xs, inverse, xs_mask, b3s) = self._terms(theta, x, t_x, T)
        log_mix = np.logaddexp(log_a2, log_a3)
        w2 = np.exp(log_a2 - log_mix)
        w3 = 1.0 - w2
        psi_ab = digamma(a + b)
        log_alpha_t = np.log(alpha + T)
        log_alpha_tx = np.log(alpha + t_x)
        # d/dr, d/dalpha
        d_r = (digamma(r + xs) - digamma(r) + np.log(alpha))[inverse]
        d_r = d_r - w2 * log_alpha_t - w3 * log_alpha_tx
        d_alpha = r / alpha - (r + x) * (w2 / (alpha + T) + w3 / (alpha + t_x))
        # d/da, d/db of the Beta terms (per distinct x)
        d2_a = (psi_ab - digamma(a + b + xs + c2))[inverse]
        d2_b = (digamma(b + xs + c2) - digamma(a + b + xs + c2) - digamma(b) + psi_ab)[inverse]
        d3_a = np.where(xs_mask, digamma(a + 1) - digamma(a + b3s + 1) - digamma(a) + psi_ab, 0.0)[
            inverse
        ]
        d3_b = np.where(xs_mask, digamma(b3s) - digamma(a + b3s + 1) - digamma(b) + psi_ab, 0.0)[
            inverse
        ]
        d_a = w2 * d2_a + w3 * d3_a
        d_b = w2 * d2_b + w3 * d3_b
        grad = np.column_stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return log_a1 + log_mix, grad

    # -- predictions ------------------------------------------------------------------------
    def _log_prob_alive(self, theta, x, t_x, T):
        r, alpha, a, b = theta
        mask = self._dead_term_mask(x)
        b3 = np.where(mask, b + x + self._dead_shift, 1.0)
        log_odds = np.log(a) - np.log(b3) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.where(mask, -np.logaddexp(0.0, log_odds), 0.0)

    def _alive_mean(self, theta, t, x, T):
        r, alpha, a, b = theta
        beta_post = b + x + self._alive_shift
        ratio = (a + beta_post - 1) / (a - 1)
        return ratio * (1.0 - hyp2f1_negative(r + x, a - 1, a + beta_post - 1, t / (alpha + T)))

    def _prob_quiet_if_alive(self, theta, t, x, T):
        r, alpha, _, _ = theta
        return np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))

    def expected_transactions_new(self, t) -> np.ndarray:
        """E[X(t)] for a customer acquired at time 0 (paper's eq. 9, Pfaff-transformed)."""
        r, alpha, a, b = self.theta_
        t = np.asarray(t, dtype=float)
        return (a + b - 1) / (a - 1) * (1.0 - hyp2f1_negative(r, a - 1, a + b - 1, t / alpha))


def hyp2f1_negative(a, b, c, u):
    """Gauss hypergeometric 2F1(a, b; c; -u) for u >= 0, stable for any u.

    The series only converges for u < 1 and SciPy's continuation beyond it can be wildly
    wrong (2F1(11.8, 1.12; 67.1; -2.1) came out as 5e6 instead of 0.72). Pfaff's
    transformation 2F1(a, b; c; -u) = (1+u)^-a 2F1(a, c-b; c; u/(1+u)) keeps the argument in
    [0, 1); with a = r + x it is the form of Fader, Hardie & Lee (2005), eq. (10).
    """
    u = np.asarray(u, dtype=float)
    return np.exp(-a * np.log1p(u)) * hyp2f1(a, c - b, c, u / (1.0 + u))


def softplus_and_sigmoid(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(1 + e^u) and 1 / (1 + e^-u), overflow-free (vectorised exp/log, no log1p)."""
    e = np.abs(u)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|u|) in (0, 1]
    one_plus = e + 1.0
    softplus = np.log(one_plus)
    softplus += np.maximum(u, 0.0)
    sigmoid = np.where(u >= 0, 1.0, e)
    sigmoid /= one_plus
    return softplus, sigmoid


def wdot(a: np.ndarray, b: np.ndarray) -> float:
    """sum(a * b) without BLAS threads (faster than ``@`` on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


class BetaGeoLikelihood:
    """Weighted BG/NBD (and MBG/NBD) log-likelihood of compressed histories, with its gradient.

    With A2 = B(a, b+x+c2)/B(a,b) (alpha+T)^-(r+x) and A3 = B(a+1, b+x+c3)/B(a,b)
    (alpha+t_x)^-(r+x),

        log L = log G(x) + log A2 + softplus(u),   u = log(A3/A2)   (u = -inf if no A3 term),

    so ``sum_i w_i [log G + log A2]`` only needs the customer totals per distinct x and per
    distinct T (``alpha+T`` enters as ``sum_T (r W_T + XW_T) log(alpha+T)``), and only the
    softplus term is evaluated per distinct history. Special functions run per distinct x,
    logarithms per distinct T and t_x.
    """

    #: above this many distinct histories the optimizer is warm-started on a subsample
    thin_above = 20_000
    thin_every = 10
    has_gradient = True

    def __init__(self, model: BetaGeoModel, histories: Histories):
        h = histories
        self.model, self.histories = model, histories
        self.c2, self.c3 = model._alive_shift, model._dead_shift
        self.xs = h.x_values
        self.xs_mask = model._dead_term_mask(self.xs)
        self.total = float(h.weights.sum())
        n_x, n_big = len(h.x_values), len(h.T_values)
        self.w_x = np.bincount(h.x_code, weights=h.weights, minlength=n_x)
        self.w_big = np.bincount(h.T_code, weights=h.weights, minlength=n_big)
        self.xw_big = np.bincount(h.T_code, weights=h.weights * h.x, minlength=n_big)
        self.big_values, self.t_values = h.T_values, h.t_x_values
        dead = self.xs_mask[h.x_code]
        self.d_x_code = h.x_code[dead]
        self.d_big_code = h.T_code[dead]
        self.d_t_code = h.t_x_code[dead]
        self.d_w = h.weights[dead]
        self.d_x = h.x[dead]
        self.n_x, self.n_big, self.n_t = n_x, n_big, len(h.t_x_values)

    def _parts(self, theta):
        r, alpha, a, b = theta
        xs, mask = self.xs, self.xs_mask
        lg = gammaln(r + xs) - gammaln(r) + r * np.log(alpha)
        beta_ab = betaln(a, b)
        beta2 = betaln(a, b + xs + self.c2) - beta_ab
        b3s = np.where(mask, b + xs + self.c3, 1.0)
        beta3 = np.where(mask, betaln(a + 1, b3s) - beta_ab, 0.0)
        log_big = np.log(alpha + self.big_values)
        log_t = np.log(alpha + self.t_values)
        gap = log_big[self.d_big_code]
        gap -= log_t[self.d_t_code]
        rx = r + self.d_x
        u = rx * gap
        u += (beta3 - beta2)[self.d_x_code]
        softplus, sigmoid = softplus_and_sigmoid(u)
        ll = (
            self.w_x @ (lg + beta2)
            - (r * self.w_big + self.xw_big) @ log_big
            + wdot(self.d_w, softplus)
        )
        return ll, (lg, beta2, b3s, log_big, log_t, gap, rx, sigmoid)

    def loglik(self, theta) -> float:
        return float(self._parts(theta)[0])

    def thinned(self) -> BetaGeoLikelihood | None:
        """The likelihood of a deterministic subsample of the histories (for a warm start)."""
        if len(self.histories.weights) <= self.thin_above:
            return None
        return type(self)(self.model, self.histories.thinned(self.thin_every))

    def loglik_and_gradient(self, theta) -> tuple[float, np.ndarray]:
        r, alpha, a, b = theta
        ll, (_, _, b3s, log_big, _, gap, rx, sigmoid) = self._parts(theta)
        xs, mask = self.xs, self.xs_mask
        sw = self.d_w * sigmoid
        d_r = (
            self.w_x @ (digamma(r + xs) - digamma(r) + np.log(alpha))
            - self.w_big @ log_big
            + wdot(sw, gap)
        )
        swr = sw * rx
        inv_big = 1.0 / (alpha + self.big_values)
        inv_t = 1.0 / (alpha + self.t_values)
        d_alpha = (
            self.total * r / alpha
            - (r * self.w_big + self.xw_big) @ inv_big
            + np.bincount(self.d_big_code, weights=swr, minlength=self.n_big) @ inv_big
            - np.bincount(self.d_t_code, weights=swr, minlength=self.n_t) @ inv_t
        )
        sw_x = np.bincount(self.d_x_code, weights=sw, minlength=self.n_x)
        psi_ab = digamma(a + b)
        psi_2 = digamma(a + b + xs + self.c2)
        d2_a = psi_ab - psi_2
        d2_b = digamma(b + xs + self.c2) - psi_2 - digamma(b) + psi_ab
        psi_3 = digamma(a + b3s + 1)
        d3_a = np.where(mask, digamma(a + 1) - psi_3 - digamma(a) + psi_ab, 0.0)
        d3_b = np.where(mask, digamma(b3s) - psi_3 - digamma(b) + psi_ab, 0.0)
        d_a = self.w_x @ d2_a + sw_x @ (d3_a - d2_a)
        d_b = self.w_x @ d2_b + sw_x @ (d3_b - d2_b)
        return float(ll), np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
