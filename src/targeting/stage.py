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
from kequn.chunks import DEFAULT_CHUNK_CUSTOMERS
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import read_json, write_json, write_parquet
from kequn.log import get_logger, timed
from kequn.rules import DAYS_PER_MONTH
from kequn.settings import settings_from
from targeting.explain import explain_lists
from targeting.export import write_branch_csvs, write_campaign_csvs, write_workbook
from targeting.lists import build_target_lists
from targeting.read import read_candidates, read_population, read_scores
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
    return contact_days(customers, read_contact_history(history_path, as_of))


def read_contact_history(history_path: str, as_of: dt.date) -> pd.Series | None:
    """Days from each customer's latest contact on record to ``as_of``, indexed by customer
    id; None without a contact history."""
    if not history_path:
        return None
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
    return known.groupby(level=0).min()  # the most recent contact


def contact_days(customers: pd.DataFrame, known: pd.Series | None) -> pd.Series:
    """:func:`read_contact_history`'s days for each of ``customers``; NaN = none on record."""
    if known is None:
        return pd.Series(np.nan, index=customers.index)
    return customers["customer_id"].map(known).astype(float)


def load_table(
    settings: dict,
    context: dict,
    contacts: pd.Series | None,
    chunk_rows: int,
    language: str,
    params: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every client's id, branch and contribution, and the features, ltv, churn and segment
    columns of the clients some campaign could list, read ``chunk_rows`` at a time
    (:mod:`targeting.read`): ``(candidates, population)``. With ``engine: spark`` in
    ``params`` the candidates are read and tested on Spark (:mod:`targeting.spark_candidates`)."""
    population = read_population(chunk_rows)

    def with_contacts(chunk: pd.DataFrame) -> pd.DataFrame:
        return chunk.assign(days_since_contact=contact_days(chunk, contacts))

    if params is not None and settings_from(params).engine == "spark":
        from targeting.read import SOURCES
        from targeting.spark_candidates import read_candidates_spark

        paths = [dataset.path for dataset in SOURCES]
        table = read_candidates_spark(
            settings, context, population, chunk_rows, params, paths,
            language=language, prepare=with_contacts,
        )  # fmt: skip
        return table, population
    table = read_candidates(
        settings, context, population, chunk_rows, language=language, prepare=with_contacts
    )
    return table, population


def apply_review(
    table: pd.DataFrame, settings: dict, chunk_rows: int = DEFAULT_CHUNK_CUSTOMERS
) -> tuple[pd.DataFrame, dict, dict]:
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
        uplift_for, scores = read_scores(UPLIFT, table["customer_id"], chunk_rows)
        if scores is not None:
            table = table.merge(scores, on="customer_id", how="left")
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
    as_of = read_context().as_of
    chunk_rows = typed.scale.chunk_customers
    contacts = read_contact_history(typed.targeting.contact_history, as_of)
    context = {
        "horizon_days": float(typed.ltv.horizon_months) * DAYS_PER_MONTH,
        "cadence_days": settings["cadence_days"],
    }
    with timed(log, "loading customers, ltv, churn and segments"):
        language = typed.report.language
        table, population = load_table(settings, context, contacts, chunk_rows, language, params)
    table, settings, review_used = apply_review(table, settings, chunk_rows)
    dnc_path = typed.targeting.do_not_contact
    do_not_contact = read_id_list(dnc_path) if dnc_path else set()
    with timed(log, "ranking target lists"):
        try:
            lists, metrics = build_target_lists(
                table,
                settings,
                context,
                language=typed.report.language,
                seed=typed.seed,
                do_not_contact=do_not_contact,
                population=population,
            )
        except ValueError as exc:
            raise UserError(f"params.yaml: {exc}") from None
    for line in explain_lists(metrics, len(population), settings.get("campaigns") or {}):
        log.warning("short list: %s", line)
    metrics["do_not_contact_ids"] = len(do_not_contact)
    unmatched, examples = unmatched_ids(do_not_contact, population["customer_id"].astype(str))
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
