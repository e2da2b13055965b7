"""DVC stage ``targets``: segments, value and risk -> ranked call lists for marketers.

Reads data/processed/{customers,ltv,churn,segments,products}.parquet and the do-not-contact
list (the growth list names each client's recommended product from products.parquet);
writes reports/targets/<campaign>.csv, reports/targets/by_branch/<branch>.csv,
reports/targets/targets.xlsx and
reports/metrics/targets.json.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.archive import archive_frame
from kequn import catalogue
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import read_json, write_json, write_parquet
from kequn.log import get_logger, timed
from kequn.rules import DAYS_PER_MONTH
from kequn.settings import settings_from
from targeting.explain import explain_lists
from targeting.export import write_branch_csvs, write_campaign_csvs, write_workbook
from targeting.lists import build_target_lists
from targeting.safety import read_id_list, unmatched_ids

log = get_logger("targets")

OUT_DIR = catalogue.TARGETS.path
METRICS = catalogue.TARGET_METRICS.path
#: written by the evaluate stage: measured response rates and the uplift model's scores
CAMPAIGN_REVIEW = catalogue.CAMPAIGN_METRICS.path
UPLIFT = catalogue.UPLIFT.path
#: the issued lists, kept between runs (not a DVC output) for a later run to evaluate
LIST_ARCHIVE = Path("data/history/lists")


def days_since_contact(customers: pd.DataFrame, history_path: str, as_of: dt.date) -> pd.Series:
    """Days since each customer's last relationship-manager contact; NaN = none on record.

    From ``targeting.contact_history`` (customer_id, last_contact_date) when given. A client
    with no contact on record is due whatever the cadence.
    """
    unknown = pd.Series(np.nan, index=customers.index)
    if not history_path:
        return unknown
    path = Path(history_path)
    if not path.exists():
        raise UserError(f"{path}: contact history not found (targeting.contact_history)")
    history = pd.read_csv(path, dtype=str)
    missing = {"customer_id", "last_contact_date"} - set(history.columns)
    if missing:
        raise UserError(
            f"{path}: missing column(s) {sorted(missing)}; found {list(history.columns)}"
        )
    last = pd.to_datetime(history["last_contact_date"], errors="coerce", format="%Y-%m-%d")
    bad = last.isna()
    if bad.any():
        line = int(bad.to_numpy().nonzero()[0][0]) + 2
        raise UserError(f"{path}:{line}: last_contact_date is not a YYYY-MM-DD date")
    days = (pd.Timestamp(as_of) - last).dt.days.astype(float)
    known = pd.Series(days.to_numpy(), index=history["customer_id"].str.strip())
    known = known.groupby(level=0).min()  # the most recent contact
    return customers["customer_id"].map(known).astype(float)


def load_table() -> pd.DataFrame:
    """Features joined with ltv, churn, segment and next-best-product columns, one row per
    customer."""
    table = pd.read_parquet(catalogue.CUSTOMERS.path)
    for dataset in (catalogue.LTV, catalogue.CHURN, catalogue.SEGMENTS, catalogue.PRODUCTS):
        other = pd.read_parquet(dataset.path)
        overlap = [c for c in other.columns if c in table.columns and c != "customer_id"]
        table = table.merge(other.drop(columns=overlap), on="customer_id", how="left")
    return table


def apply_review(table: pd.DataFrame, settings: dict) -> tuple[pd.DataFrame, dict, dict]:
    """Feed the evaluate stage's findings into the lists: each campaign's response rate
    becomes the one campaigns.json says to use (measured lift shrunk toward the prior), and
    the campaign the uplift model won for is ranked by uplift (``rank_by: uplift``).

    Returns the table (with ``uplift`` when scores exist), the adjusted settings and what
    was used per campaign (``response_rate, basis, ranking``).
    """
    review = read_json(CAMPAIGN_REVIEW) if CAMPAIGN_REVIEW.exists() else {}
    expected = review.get("expected_response") or {}
    campaigns = {
        name: dict(values or {}) for name, values in (settings.get("campaigns") or {}).items()
    }
    uplift_for = None
    if UPLIFT.exists():
        scores = pd.read_parquet(UPLIFT)
        if len(scores):
            uplift_for = str(scores["campaign_type"].iloc[0])
            table = table.merge(scores[["customer_id", "uplift"]], on="customer_id", how="left")
    used = {}
    for name, values in campaigns.items():
        found = expected.get(name) or {}
        if found.get("used") is not None:
            values["response_rate"] = float(found["used"])
        if name == uplift_for:
            values["rank_by"] = "uplift"
        used[name] = {
            "response_rate": values.get("response_rate"),
            "basis": found.get("basis", "prior"),
            "ranking": "uplift" if name == uplift_for else "risk_value",
        }
    return table, dict(settings, campaigns=campaigns), used


def run(params: dict) -> None:
    typed = settings_from(params)
    settings = typed.targeting.as_dict()  # plain data for the ranking functions
    with timed(log, "loading customers, ltv, churn, segments and products"):
        table = load_table()
    if "margin" not in table.columns:
        raise UserError(f"{catalogue.LTV.path}: no margin column; rerun the ltv stage")
    as_of = read_context().as_of
    table["days_since_contact"] = days_since_contact(table, typed.targeting.contact_history, as_of)
    table, settings, review_used = apply_review(table, settings)
    dnc_path = typed.targeting.do_not_contact
    do_not_contact = read_id_list(dnc_path) if dnc_path else set()
    context = {
        "horizon_days": float(typed.ltv.horizon_months) * DAYS_PER_MONTH,
        "cadence_days": settings["cadence_days"],
    }
    with timed(log, "ranking target lists"):
        try:
            lists, metrics = build_target_lists(
                table,
                settings,
                context,
                language=typed.report.language,
                seed=typed.seed,
                do_not_contact=do_not_contact,
            )
        except ValueError as exc:
            raise UserError(f"params.yaml: {exc}") from None
    for line in explain_lists(metrics, len(table), settings.get("campaigns") or {}):
        log.warning("short list: %s", line)
    metrics["do_not_contact_ids"] = len(do_not_contact)
    unmatched, examples = unmatched_ids(do_not_contact, table["customer_id"].astype(str))
    metrics["do_not_contact_unmatched"] = unmatched
    metrics["do_not_contact_unmatched_examples"] = examples
    if unmatched:
        log.warning(
            "%s: %d do-not-contact ids match no client (e.g. %s); check for ids that a "
            "spreadsheet changed (1.00340082E+08, lost leading zeros)",
            dnc_path,
            unmatched,
            ", ".join(examples),
        )
    metrics["as_of"] = as_of.isoformat()
    metrics["review"] = review_used
    with timed(log, "writing lists"):
        write_campaign_csvs(lists, OUT_DIR)
        write_branch_csvs(lists, OUT_DIR / "by_branch")
        write_workbook(
            lists,
            OUT_DIR / "targets.xlsx",
            as_of=as_of.isoformat(),
            run_date=dt.date.today().isoformat(),
            # the section as written in params.yaml (provenance of the list)
            params={"targeting": params.get("targeting"), "seed": params.get("seed")},
        )
        write_json(METRICS, metrics)
        write_parquet(LIST_ARCHIVE / f"{as_of.isoformat()}.parquet", archive_frame(lists, as_of))
    if not metrics["branch_columns"]:
        log.warning("the client master has no branch column: every list is in branch 'unassigned'")
    for campaign, m in metrics["campaigns"].items():
        log.info(
            "%s: %d rows (%d control), expected value %.0f, cost %.0f, suppressed %d, overlap %d",
            campaign,
            m["rows"],
            m["control"],
            m["expected_value"],
            m["cost"],
            m["suppressed"],
            m["overlap_removed"],
        )
