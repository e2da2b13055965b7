"""``python -m kequn report``: read the run's outputs, build the report, write it.

Inputs: ``reports/metrics/{ingest,ltv,churn,segments,targets}.json``,
``data/interim/rejects.csv``, ``data/processed/{customers,ltv,churn,segments}.parquet``,
``reports/plots/*.csv``; params ``report.language`` (en | zh), ``report.currency``, plus
``churn.horizon_days`` (the "active" window) and ``ltv.horizon_months`` for the wording.
Outputs (atomic): ``reports/report.html`` and ``reports/figures/<nn>_<chart>.svg|png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kequn import catalogue
from kequn.errors import UserError
from kequn.io import write_bytes, write_text
from kequn.log import get_logger, timed
from kequn.settings import settings_from
from reporting.build import ReportSettings, build_report
from reporting.fonts import configure_matplotlib
from reporting.inputs import load_run

REPORT = catalogue.REPORT.path
FIGURES = catalogue.FIGURES.path

log = get_logger("report")


def read_settings(params: dict[str, Any], churn_metrics: dict[str, Any]) -> ReportSettings:
    """Report settings from :mod:`kequn.settings` (validated there); the active window is
    the churn horizon of the run (its metrics), else ``churn.horizon_days``."""
    settings = settings_from(params)
    currency = settings.report.currency
    if not currency.strip():
        raise UserError(
            f"params.yaml: report.currency={currency!r} must be a currency code like CNY"
        )
    horizon_days = churn_metrics.get("horizon_days") or settings.churn.horizon_days
    return ReportSettings(
        language=settings.report.language,
        currency=currency.strip().upper(),
        active_days=int(horizon_days),
        horizon_months=settings.ltv.horizon_months,
    )


def write_figures(figures: dict, folder: Path = FIGURES) -> None:
    """Write every chart as SVG and PNG; remove charts of earlier runs no longer made."""
    keep = {f"{name}.{ext}" for name in figures for ext in ("svg", "png")}
    if folder.exists():
        for old in folder.iterdir():
            if old.suffix in (".svg", ".png") and old.name not in keep:
                old.unlink()
    for name, files in figures.items():
        write_bytes(folder / f"{name}.svg", files.svg)
        write_bytes(folder / f"{name}.png", files.png)


def run(params: dict) -> None:
    with timed(log, "reading the run's outputs"):
        outputs = load_run(Path("."))
    settings = read_settings(params, outputs.metrics.get("churn") or {})
    font = configure_matplotlib(settings.language)
    log.info("report in %s, currency %s, chart font %s", settings.language, settings.currency, font)
    with timed(log, "building the report"):
        report = build_report(outputs, settings)
    with timed(log, f"writing {REPORT} and {len(report.figures)} figures"):
        write_figures(report.figures)
        write_text(REPORT, report.html)
    log.info("report: %d bytes, %d charts", len(report.html.encode("utf-8")), len(report.figures))
