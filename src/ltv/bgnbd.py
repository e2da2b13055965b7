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

from ltv._base import TransactionModel


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
        return ratio * (1.0 - hyp2f1(r + x, a - 1, a + beta_post - 1, -t / (alpha + T)))

    def _prob_quiet_if_alive(self, theta, t, x, T):
        r, alpha, _, _ = theta
        return np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))

    def expected_transactions_new(self, t) -> np.ndarray:
        """E[X(t)] for a customer acquired at time 0 (paper's eq. 9, Pfaff-transformed)."""
        r, alpha, a, b = self.theta_
        t = np.asarray(t, dtype=float)
        return (a + b - 1) / (a - 1) * (1.0 - hyp2f1(r, a - 1, a + b - 1, -t / alpha))
