"""Reading ``params.yaml``: the analyst's one place for settings.

The typed, validated view of the file is :mod:`kequn.settings`; this module only parses it
(and reads the memory budgets from the environment).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from kequn.errors import UserError

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read a YAML parameter file into a dictionary (clear error if missing or malformed)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: parameter file not found")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}:{where} is not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path}: expected a mapping of parameters at the top level")
    return params


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    """One stage's parameter group (``params[name]``), an empty dict when absent (the raw
    view; stages read the typed one from :func:`kequn.settings.settings_from`)."""
    value = params.get(name) or {}
    if not isinstance(value, dict):
        raise UserError(f"params.yaml: '{name}' must be a mapping, got {type(value).__name__}")
    return value


def memory_limit(variable: str, default: str) -> str:
    """A DuckDB memory budget from the environment variable ``variable`` (``default`` when
    unset), checked to look like ``1GB`` or ``512MB``."""
    value = os.environ.get(variable, default).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", value, flags=re.IGNORECASE):
        raise UserError(f"{variable}={value!r} must look like 1GB or 512MB")
    return value
