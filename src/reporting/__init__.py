"""Reporting: the manager report (``reports/report.html``) and the slide figures.

- :mod:`reporting.formatting` -- numbers, money and shares for the report's locale
- :mod:`reporting.fonts`      -- matplotlib set up for Chinese (a CJK font) and stable bytes
- :mod:`reporting.inputs`     -- reading one pipeline run's outputs (tolerant of gaps)
- :mod:`reporting.summary`    -- the executive-summary figures and the section tables
- :mod:`reporting.survival`   -- Kaplan-Meier curves of customer lifetimes by value tier
- :mod:`reporting.charts`     -- one matplotlib figure per chart
- :mod:`reporting.html`       -- the self-contained HTML page
- :mod:`reporting.stage`      -- ``python -m kequn report``
"""

from reporting.formatting import format_count, format_money, format_number, format_percent
from reporting.inputs import RunOutputs, load_run, run_dir
from reporting.summary import executive_summary

__all__ = [
    "RunOutputs",
    "executive_summary",
    "format_count",
    "format_money",
    "format_number",
    "format_percent",
    "load_run",
    "run_dir",
]
