"""Load a fitted model from JSON text or a file, dispatching on its ``"model"`` key."""

from __future__ import annotations

import json
from pathlib import Path

from ltv._base import BaseModel
from ltv.bgnbd import BetaGeoModel
from ltv.gamma_gamma import GammaGammaModel
from ltv.mbgnbd import ModifiedBetaGeoModel
from ltv.pareto_nbd import ParetoNBDModel

MODELS: dict[str, type[BaseModel]] = {
    cls.model_name: cls
    for cls in (BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel, GammaGammaModel)
}


def load_model(path_or_text: str | Path) -> BaseModel:
    """A fitted model from a JSON file path or JSON text written by ``model.to_json()``."""
    text = str(path_or_text)
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        text = path.read_text(encoding="utf-8")
    name = json.loads(text).get("model")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} in JSON; expected one of {sorted(MODELS)}")
    return MODELS[name].from_json(text)
