"""MBG/NBD transaction model (Batislam, Denizel & Filiztekin 2007).

As BG/NBD (see :mod:`ltv.bgnbd`) but a customer may drop out at time 0 as well as after each
repeat purchase, so customers with no repeat purchase can be inactive too. For a history
(x, t_x, T):

    L = G * [ B(a, b+x+1)/B(a, b) (alpha+T)^-(r+x) + B(a+1, b+x)/B(a, b) (alpha+t_x)^-(r+x) ],
    P(alive | x, t_x, T) = 1 / (1 + a/(b+x) * ((alpha+T)/(alpha+t_x))^(r+x)),
    E[X(T, T+t] | alive] = (a+b+x)/(a-1) [1 - 2F1(r+x, a-1; a+b+x; -t/(alpha+T))],
    E[X(t)] (new customer) = b/(a-1) [1 - 2F1(r, a-1; a+b; -t/alpha)].
"""

from __future__ import annotations

import numpy as np

from ltv.bgnbd import BetaGeoModel, hyp2f1_negative


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD model; parameters r, alpha, a, b as in BG/NBD."""

    model_name = "mbgnbd"
    _alive_shift = 1
    _dead_shift = 0

    def _dead_term_mask(self, x: np.ndarray) -> np.ndarray:
        return np.ones(np.shape(x), dtype=bool)

    def expected_transactions_new(self, t) -> np.ndarray:
        """E[X(t)] for a customer acquired at time 0 (who may drop out at once)."""
        r, alpha, a, b = self.theta_
        t = np.asarray(t, dtype=float)
        return b / (a - 1) * (1.0 - hyp2f1_negative(r, a - 1, a + b, t / alpha))
