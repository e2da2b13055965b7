"""Campaign review (经营回检): what past lists did against their control groups.

Pure functions: :mod:`evaluation.lift` (the statistics), :mod:`evaluation.responses`
(an imported campaign-response extract), :mod:`evaluation.campaigns` (per campaign and
per campaign x segment tables), :mod:`evaluation.uplift` (a T-learner and the Qini
backtest). :mod:`evaluation.stage` is the thin entry point of ``python -m kequn evaluate``.
"""
