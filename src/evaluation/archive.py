"""The project's own past lists: archived by the targets stage, evaluated by a later run.

Each targets run writes ``data/history/lists/<as_of>.parquet`` with ``as_of, campaign,
customer_id, rank, control`` (outside DVC's outputs, so it survives reruns). A later run
with a later ``as_of`` takes each listed client's outcome from the transactions in the
window ``(list as_of, list as_of + window_days]`` and evaluates every list whose window has
closed by its own ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from kequn.errors import UserError

ARCHIVE_COLUMNS = ["as_of", "campaign", "customer_id", "rank", "control"]
#: outcomes measured from the transactions: kind of each (see evaluation.lift)
LIST_OUTCOMES = {"active": "rate", "transactions": "money", "value": "money"}


def archive_frame(lists: dict[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """The rows the targets stage archives for one run: ``as_of, campaign, customer_id,
    rank, control`` of every list it issued."""
    frames = [
        frame.assign(as_of=pd.Timestamp(as_of), campaign=name)[ARCHIVE_COLUMNS]
        for name, frame in lists.items()
    ]
    if not frames:
        return pd.DataFrame(columns=ARCHIVE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def read_archive(folder: Path) -> pd.DataFrame:
    """Every archived list in ``folder`` (empty frame when there is none)."""
    files = sorted(Path(folder).glob("*.parquet"))
    if not files:
        return pd.DataFrame(columns=ARCHIVE_COLUMNS)
    frames = []
    for file in files:
        frame = pd.read_parquet(file)
        missing = set(ARCHIVE_COLUMNS) - set(frame.columns)
        if missing:
            raise UserError(f"{file}: archived list lacks column(s) {sorted(missing)}")
        frames.append(frame[ARCHIVE_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def closed_lists(
    archive: pd.DataFrame, as_of: dt.date, window_days: int
) -> tuple[pd.DataFrame, list[dict]]:
    """Split the archive into lists whose window has closed by ``as_of`` and pending ones.

    Only lists issued strictly before ``as_of`` are past lists. A list archived with this
    run's own ``as_of`` (an earlier run of the same month) or a later one is not, so a rerun
    reports the same as a first run.

    Returns
    -------
    (closed, pending) : tuple
        Archive rows of closed lists; ``[{campaign, as_of, window_closes}]`` of the others.
    """
    archive = archive.loc[pd.to_datetime(archive["as_of"]) < pd.Timestamp(as_of)]
    dates = pd.to_datetime(archive["as_of"])
    closes = dates + pd.Timedelta(days=window_days)
    done = closes <= pd.Timestamp(as_of)
    pending = (
        archive.loc[~done, ["campaign"]]
        .assign(
            as_of=dates[~done].dt.date.astype(str), window_closes=closes[~done].dt.date.astype(str)
        )
        .drop_duplicates()
        .to_dict("records")
    )
    return archive.loc[done], pending


def list_outcomes(
    closed: pd.DataFrame, transactions: pd.DataFrame, window_days: int
) -> pd.DataFrame:
    """Each listed client's outcome in the window after their list's date.

    Parameters
    ----------
    closed : DataFrame
        Archive rows (``as_of, campaign, customer_id, control``).
    transactions : DataFrame
        ``customer_id, date, amount``.
    window_days : int

    Returns
    -------
    DataFrame
        ``campaign`` (``<campaign>_<as_of>``), ``campaign_type``, ``as_of``, ``customer_id``,
        ``arm`` (control / treatment), ``active`` (any transaction in the window, 0/1),
        ``transactions`` (count) and ``value`` (sum of amounts).
    """
    rows = closed.copy()
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    tx = transactions[["customer_id", "date", "amount"]].merge(
        rows[["customer_id", "as_of"]].drop_duplicates(), on="customer_id"
    )
    inside = (tx["date"] > tx["as_of"]) & (
        tx["date"] <= tx["as_of"] + pd.Timedelta(days=window_days)
    )
    sums = tx[inside].groupby(["customer_id", "as_of"])["amount"].agg(["size", "sum"])
    rows = rows.merge(sums, left_on=["customer_id", "as_of"], right_index=True, how="left")
    rows["transactions"] = rows["size"].fillna(0).astype(float)
    rows["value"] = rows["sum"].fillna(0.0).astype(float)
    rows["active"] = (rows["transactions"] > 0).astype(float)
    rows["arm"] = rows["control"].astype(int).map({1: "control", 0: "treatment"})
    rows["campaign_type"] = rows["campaign"]
    rows["campaign"] = rows["campaign"] + "_" + rows["as_of"].dt.date.astype(str)
    columns = ["campaign", "campaign_type", "as_of", "customer_id", "arm"]
    return rows[columns + list(LIST_OUTCOMES)].reset_index(drop=True)
