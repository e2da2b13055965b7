"""``python -m kequn evaluate``: what past campaigns did against their control (经营回检).

Reads data/interim/{transactions,clients}.parquet, data/processed/segments.parquet, the
archive of issued lists (data/history/lists/, written by the targets stage) and, when
``evaluation.responses`` names a mapping, an imported campaign-response extract. Writes
reports/metrics/campaigns.json, reports/plots/campaign_lift.csv (per campaign x value tier),
data/processed/uplift.parquet (predicted uplift of every client when the uplift ranking won
its backtest; empty otherwise) and data/interim/response_rejects.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.archive import LIST_OUTCOMES, closed_lists, list_outcomes, read_archive
from evaluation.campaigns import evaluate_campaigns, segment_rows
from evaluation.responses import load_response_mapping, read_responses
from evaluation.review import campaign_type, expected_responses, finite, keyed_figures
from evaluation.settings import EvaluationSettings, read_settings
from evaluation.uplift import backtest_uplift, pre_features, risk_value_score
from kequn.config import resolve_as_of, section
from kequn.io import write_csv, write_json, write_parquet
from kequn.log import get_logger, timed

log = get_logger("evaluate")

TRANSACTIONS = Path("data/interim/transactions.parquet")
CLIENTS = Path("data/interim/clients.parquet")
SEGMENTS = Path("data/processed/segments.parquet")
ARCHIVE = Path("data/history/lists")
METRICS = Path("reports/metrics/campaigns.json")
PLOT = Path("reports/plots/campaign_lift.csv")
UPLIFT = Path("data/processed/uplift.parquet")
REJECTS = Path("data/interim/response_rejects.csv")
#: the segments each campaign is also evaluated in (branch only where the data has one)
SEGMENT_BY = ("value_tier", "branch")
#: fewer treated or control clients than this and no uplift model is trained
MIN_UPLIFT_ARM = 200


def _sources(settings: EvaluationSettings, tx: pd.DataFrame, as_of, known: list[str]):
    """(rows, outcome kinds, rate outcome) per source, the pending lists and the rejects."""
    sources, pending = {}, []
    closed, pending = closed_lists(read_archive(ARCHIVE), as_of, settings.window_days)
    if len(closed):
        sources["lists"] = (
            list_outcomes(closed, tx, settings.window_days),
            LIST_OUTCOMES,
            "active",
        )
    rejects = pd.DataFrame(columns=["source_file", "line", "reason", "raw"])
    if settings.responses:
        mapping = load_response_mapping(settings.responses)
        rows, rejects = read_responses(mapping, as_of)
        rows["campaign_type"] = rows["campaign"].map(lambda c: campaign_type(c, known))
        rows["as_of"] = rows["contact_date"]
        kinds = {name: kind for name, (kind, _) in mapping.outcomes.items()}
        rate = next((n for n, k in kinds.items() if k == "rate"), None)
        sources["responses"] = (rows, kinds, rate)
    return sources, pending, rejects


def _uplift(sources, tx, clients, settings, as_of) -> tuple[dict[str, Any], pd.DataFrame]:
    """Backtest the uplift model on the latest large enough campaign; score every client."""
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=str),
            "uplift": pd.Series(dtype=float),
            "campaign_type": pd.Series(dtype=str),
        }
    )
    best = None
    for source, (rows, _, rate) in sources.items():
        if rate is None:
            continue
        for campaign, group in rows.groupby("campaign"):
            arms = group["arm"].eq("control").value_counts()
            if arms.get(True, 0) >= MIN_UPLIFT_ARM and arms.get(False, 0) >= MIN_UPLIFT_ARM:
                when = pd.Timestamp(group["as_of"].min())
                if best is None or when > best[0]:
                    best = (when, source, campaign, group, rate)
    if best is None:
        return {
            "used": False,
            "reason": "no past campaign with 200+ treated and control "
            "clients: lists keep the risk x value ranking",
        }, empty
    when, source, campaign, group, rate = best
    features = pre_features(tx, group["customer_id"], when, clients)
    treated = (group["arm"] != "control").to_numpy()
    result, model = backtest_uplift(
        features.to_numpy(),
        treated,
        group[rate].to_numpy(float),
        risk_value_score(features),
        seed=settings.seed,
        test_share=settings.test_share,
        k=settings.top_share,
    )
    info = {
        "used": result.chosen == "uplift",
        "campaign": campaign,
        "source": source,
        "outcome": rate,
        "campaign_type": group["campaign_type"].iloc[0],
        **result.as_dict(),
    }
    if result.chosen != "uplift":
        return info, empty
    everyone = pd.Series(sorted(tx["customer_id"].unique()))
    now = pre_features(tx, everyone, pd.Timestamp(as_of) + pd.Timedelta(days=1), clients)
    scores = pd.DataFrame(
        {
            "customer_id": everyone,
            "uplift": model.predict_uplift(now.to_numpy()),
            "campaign_type": info["campaign_type"],
        }
    )
    return info, scores


def _evaluate_source(source, rows, kinds, targeting, segments, settings):
    """Evaluated campaigns of one source, and its per value tier (and branch) plot rows."""
    types = rows.groupby("campaign")["campaign_type"].first()
    costs = {
        c: float((targeting.get(t) or {}).get("cost_per_contact", 0.0)) for c, t in types.items()
    }
    found = evaluate_campaigns(
        rows,
        kinds,
        costs,
        source=source,
        seed=settings.seed,
        draws=settings.bootstrap_draws,
        min_control=settings.min_control,
    )
    dates = rows.groupby("campaign")["as_of"].min()
    for entry in found:
        entry["campaign_type"] = types[entry["campaign"]]
        entry["date"] = pd.Timestamp(dates[entry["campaign"]]).date().isoformat()
    joined = rows.merge(segments, on="customer_id", how="left")
    plots = []
    for by in [c for c in SEGMENT_BY if c in segments.columns]:
        frame = joined.fillna({by: "unknown"})
        plots.append(
            segment_rows(
                frame, kinds, by, seed=settings.seed, min_control=settings.min_control
            ).assign(source=source)
        )
    return found, plots


def _segments(clients: pd.DataFrame | None) -> pd.DataFrame:
    """Value tier of every customer, and branch where the segments or client master have one."""
    segments = pd.read_parquet(SEGMENTS)
    keep = ["customer_id"] + [c for c in SEGMENT_BY if c in segments.columns]
    segments = segments[keep]
    if "branch" not in segments and clients is not None and "branch" in clients:
        segments = segments.merge(clients[["customer_id", "branch"]], on="customer_id", how="left")
    return segments


def run(params: dict[str, Any]) -> None:
    settings = read_settings(params)
    targeting = section(params, "targeting").get("campaigns") or {}
    with timed(log, "loading transactions"):
        tx = pd.read_parquet(TRANSACTIONS, columns=["customer_id", "date", "amount"])
        tx["date"] = pd.to_datetime(tx["date"])
        as_of = resolve_as_of(params, pd.Timestamp(tx["date"].max()).date())
        tx = tx[tx["date"] <= pd.Timestamp(as_of)]
        clients = pd.read_parquet(CLIENTS) if CLIENTS.exists() else None
        segments = _segments(clients)
    sources, pending, rejects = _sources(settings, tx, as_of, list(targeting))
    entries, plot_rows = [], []
    for source, (rows, kinds, _) in sources.items():
        with timed(log, f"evaluating {source}"):
            found, plots = _evaluate_source(source, rows, kinds, targeting, segments, settings)
        entries.extend(found)
        plot_rows.extend(plots)
    entries.sort(key=lambda e: (e["date"], e["campaign"], e["arm"]))
    priors = {c: float((s or {}).get("response_rate", 0.1)) for c, s in targeting.items()}
    rate_outcomes = {s: rate for s, (_, _, rate) in sources.items()}
    with timed(log, "uplift model"):
        uplift_info, scores = _uplift(sources, tx, clients, settings, as_of)
    metrics = {
        "by_campaign": keyed_figures(entries),
        "as_of": as_of.isoformat(),
        "window_days": settings.window_days,
        "campaigns": entries,
        "pending": pending,
        "expected_response": expected_responses(
            entries, priors, rate_outcomes, settings.prior_strength
        ),
        "uplift": uplift_info,
        "response_rejects": len(rejects),
    }
    empty = pd.DataFrame(columns=["campaign", "arm", "value_tier"])
    plot = (
        pd.concat(plot_rows, ignore_index=True)
        if plot_rows
        else segment_rows(empty, {}, "value_tier", seed=0).assign(source=pd.Series(dtype=str))
    )
    write_json(METRICS, finite(metrics))
    write_csv(PLOT, plot)
    write_parquet(UPLIFT, scores)
    write_csv(REJECTS, rejects)
    for entry in entries:
        log.info(
            "%s (%s, %s): %d treated, %d control",
            entry["campaign"],
            entry["arm"],
            entry["source"],
            entry["treated"],
            entry["control"],
        )
    log.info("uplift ranking used: %s", uplift_info.get("used"))
