"""Reading one pipeline run's outputs (the report stage's and the notebooks' inputs).

Every path is relative to the run directory (the repo root for ``dvc repro``; a test's
temporary directory; ``KEQUN_RUN_DIR`` for the notebooks). Only ``customers.parquet`` is
required; any other missing file is logged, recorded in :attr:`RunOutputs.missing` and
shown in the report as "not available" for its section, never skipped silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kequn import catalogue
from kequn.errors import UserError
from kequn.log import get_logger

log = get_logger("report")

METRICS = ("ingest", "ltv", "churn", "segments", "products", "campaigns", "targets")
TABLES = ("customers", "ltv", "churn", "segments")
PLOTS = (
    "ltv_calibration",
    "ltv_deciles",
    "ltv_gain",
    "churn_roc",
    "churn_calibration",
    "churn_gain",
    "churn_km",
    "pareto",
    "cluster_profiles",
    "campaign_lift",
    "aum_trend",
)
REJECTS = catalogue.REJECTS.path

#: per-customer columns the report uses, by table (absent ones are simply not joined)
CUSTOMER_COLUMNS = {
    "customers": [
        "customer_id",
        "first_date",
        "last_date",
        "days_since_last",
        "tenure_days",
        "frequency",
        "total_value",
        "client_type",
        "branch",
        "aum_latest",
        "complaints_365d",
        "unresolved_complaints",
    ],
    "ltv": ["customer_id", "clv", "revenue_contribution", "probability_alive"],
    "churn": [
        "customer_id",
        "churn_probability",
        "warning_level",
        "outflow_warning",
        "outflow_drop",
        "outflow_window_months",
        "complaint_warning",
    ],
    "segments": [
        "customer_id",
        "value_tier",
        "tier_value",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "cluster_id",
        "cluster_name",
        "cluster_name_zh",
        "tier_change",
    ],
}


def metrics_path(name: str) -> Path:
    return catalogue.by_stem("metrics", name).path


def table_path(name: str) -> Path:
    return catalogue.by_stem("table", name).path


def plot_path(name: str) -> Path:
    return catalogue.by_stem("plot", name).path


def run_dir() -> Path:
    """The run to read: ``$KEQUN_RUN_DIR`` if set, else the repository root above the
    working directory (the first parent holding ``dvc.yaml``), else the working directory."""
    env = os.environ.get("KEQUN_RUN_DIR")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


@dataclass
class RunOutputs:
    """The outputs of one pipeline run; ``None`` / ``{}`` where a file is missing."""

    root: Path
    metrics: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    plots: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    rejects: pd.DataFrame | None = None
    missing: list[str] = field(default_factory=list)

    def customer_frame(self) -> pd.DataFrame:
        """One row per customer of ``customers.parquet`` with the ltv, churn and segment
        columns the report uses joined on ``customer_id`` (ids compared as strings)."""
        frame = _select(self.tables["customers"], "customers")
        for name in ("ltv", "churn", "segments"):
            table = self.tables.get(name)
            if table is not None:
                frame = frame.merge(_select(table, name), on="customer_id", how="left")
        return frame


def _select(table: pd.DataFrame, name: str) -> pd.DataFrame:
    columns = [c for c in CUSTOMER_COLUMNS[name] if c in table.columns]
    out = table[columns].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def load_run(root: str | Path | None = None) -> RunOutputs:
    """Read every output the report uses from the run directory ``root``."""
    root = Path(root) if root is not None else run_dir()
    out = RunOutputs(root=root)
    customers = root / table_path("customers")
    if not customers.exists():
        raise UserError(f"{customers}: not found; run the earlier stages first (dvc repro)")
    for name in METRICS:
        path = root / metrics_path(name)
        if path.exists():
            out.metrics[name] = _read_json(path)
        else:
            out.metrics[name] = {}
            out.missing.append(str(metrics_path(name)))
    for name in TABLES:
        path = root / table_path(name)
        out.tables[name] = pd.read_parquet(path) if path.exists() else None
        if out.tables[name] is None:
            out.missing.append(str(table_path(name)))
    for name in PLOTS:
        path = root / plot_path(name)
        out.plots[name] = pd.read_csv(path) if path.exists() else None
        if out.plots[name] is None:
            out.missing.append(str(plot_path(name)))
    if (root / REJECTS).exists():
        out.rejects = pd.read_csv(root / REJECTS, dtype=str, keep_default_na=False)
    else:
        out.missing.append(str(REJECTS))
    for path in out.missing:
        log.warning("%s not found: its report section says 'not available'", path)
    return out
