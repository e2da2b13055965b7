"""Production take-up models, the value of a take-up, and the recommended product.

For each line ``l`` the chosen model is fitted at ``as_of - h`` (labels from
``(as_of - h, as_of]``) and scores every customer not holding ``l`` at ``as_of``:
``p_il``. The value of a take-up of ``l`` over the horizon is

    V_l = m_l * (1 / |T_l|) sum_{i in T_l} v_il

with ``T_l`` the customers who took ``l`` up in ``(as_of - h, as_of]``, ``v_il`` their
transaction value of ``l`` in that window, and ``m_l`` the margin of the line by the ltv
rule (:func:`kequn.rules.customer_margin` on the line's category mix of that value). The
recommended product is the line not held with the largest expected value ``p_il * V_l``
(ties: the larger probability, then the line order); none when every line is held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kequn.log import get_logger
from kequn.rules import customer_margin
from products.backtest import Table, TakeUpTables, fit_line, population
from products.model import TakeUpModel

log = get_logger("products")


def fit_lines(train: Table, lines: tuple[str, ...], kind: str, seed: int) -> dict:
    """``{line: TakeUpModel}`` fitted on ``train``; a line with too few take-ups for ``kind``
    falls back to ``popularity`` (logged)."""
    models = {}
    for line in lines:
        model = fit_line(train, line, kind, seed)
        if model is None:
            _, y = population(train, line)
            log.warning("%s: %d take-ups to train on; popularity instead", line, int(y.sum()))
            model = fit_line(train, line, "popularity", seed)
        models[line] = model
    return models


def probabilities(models: Mapping[str, TakeUpModel], table: Table) -> pd.DataFrame:
    """``p_<line>`` per customer of ``table``; NaN where the customer holds the line."""
    out = pd.DataFrame(index=range(len(table.ids)))
    for line, model in models.items():
        p = model.predict_proba(table.x)
        out[f"p_{line}"] = np.where(table.held[line].to_numpy(), np.nan, p)
    return out


def line_values(
    tables: TakeUpTables, cutoff: dt.date, margin: float | Mapping[str, float]
) -> dict[str, dict[str, float]]:
    """Per line, ``V_l`` of the module docstring at ``cutoff`` and its parts: ``takers``,
    ``mean_value`` (revenue per taker in the horizon) and ``margin``."""
    table = tables.at(cutoff)
    rows = tables.rows
    start, end = (
        np.datetime64(cutoff, "ns"),
        np.datetime64(cutoff, "ns") + np.timedelta64(tables.h, "D"),
    )
    dates = rows["date"].to_numpy()
    window = rows.loc[(dates > start) & (dates <= end)]
    out = {}
    for line in tables.lines:
        takers = set(table.ids[table.taken[line].to_numpy()])
        taken = window.loc[(window["line"] == line).to_numpy()]
        taken = taken.loc[taken["customer_id"].isin(takers).to_numpy()]
        # by category name, as text: the categories of no row of the window are not in it
        by_category = (
            taken.astype({"product": object}).groupby("product")["amount"].sum().clip(lower=0.0)
        )
        total = float(by_category.sum())
        mix = pd.DataFrame(
            {
                f"share_product_{c}": [v / total if total > 0 else 0.0]
                for c, v in by_category.items()
            }
        )
        m = float(customer_margin(mix, margin, quiet=True)[0])
        mean_value = float(taken["amount"].sum()) / len(takers) if takers else 0.0
        out[line] = {
            "takers": len(takers),
            "mean_value": mean_value,
            "margin": m,
            "value": max(mean_value, 0.0) * m,
        }
    return out


def recommend(p: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """``product``, ``product_probability``, ``product_value`` per row of ``p`` (columns
    ``p_<line>``, NaN for held lines; ``values``: ``V_l`` per line)."""
    lines = [c.removeprefix("p_") for c in p.columns]
    prob = p.to_numpy(dtype=float)
    value = prob * np.array([values[line] for line in lines])[None, :]
    # rank by value, then probability, then line order; held lines (NaN) never win
    key = np.where(np.isnan(value), -np.inf, value)
    tie = np.where(np.isnan(prob), -np.inf, prob)
    n = len(p)
    best = np.zeros(n, dtype=int)
    for j in range(1, len(lines)):
        better = (key[:, j] > key[np.arange(n), best]) | (
            (key[:, j] == key[np.arange(n), best]) & (tie[:, j] > tie[np.arange(n), best])
        )
        best = np.where(better, j, best)
    rows = np.arange(n)
    none = np.isnan(prob).all(axis=1) if len(lines) else np.ones(n, dtype=bool)
    names = np.array(lines, dtype=object)[best] if lines else np.full(n, None, dtype=object)
    return pd.DataFrame(
        {
            "product": np.where(none, None, names),
            "product_probability": np.where(none, np.nan, prob[rows, best] if lines else 0.0),
            "product_value": np.where(none, np.nan, value[rows, best] if lines else 0.0),
        }
    )
