"""Reading ``params.yaml``: the analyst's one place for settings.

Stages receive plain dictionaries; nothing here reads a stage's inputs.
"""

from __future__ import annotations

import datetime as dt
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


def parse_date(value: Any, name: str) -> dt.date | None:
    """Parse a ``YYYY-MM-DD`` parameter; empty or ``None`` gives ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise UserError(f"params.yaml: {name}={value!r} is not a date in YYYY-MM-DD form") from None


def resolve_as_of(params: dict[str, Any], last_date_in_data: dt.date) -> dt.date:
    """The scoring date: ``params['as_of']`` if set, else the last date in the data.

    An ``as_of`` after the data's last date scores a period nobody has seen (every client
    looks silent): a UserError, unless ``allow_as_of_after_data: true`` opts in.
    """
    as_of = parse_date(params.get("as_of"), "as_of")
    if as_of is not None and as_of > last_date_in_data and not params.get("allow_as_of_after_data"):
        raise UserError(
            f"params.yaml: as_of={as_of} is after the data's last date {last_date_in_data}; "
            "set allow_as_of_after_data: true to score it anyway"
        )
    return as_of if as_of is not None else last_date_in_data


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    """One stage's parameter group (``params[name]``), an empty dict when absent."""
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
