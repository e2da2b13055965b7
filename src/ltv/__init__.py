"""Lifetime value: buy-till-you-die transaction models, the Gamma-Gamma spend model and CLV.

Public API::

    from ltv import (BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel, GammaGammaModel,
                     load_model, customer_lifetime_value)
"""

from ltv._base import ConvergenceWarning
from ltv.bgnbd import BetaGeoModel
from ltv.clv import customer_lifetime_value
from ltv.gamma_gamma import GammaGammaModel
from ltv.mbgnbd import ModifiedBetaGeoModel
from ltv.pareto_nbd import ParetoNBDModel
from ltv.persistence import load_model

__all__ = [
    "BetaGeoModel",
    "ConvergenceWarning",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "customer_lifetime_value",
    "load_model",
]
