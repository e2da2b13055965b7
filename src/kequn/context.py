"""The run context: ``as_of`` and the data's date range, worked out once.

The features stage resolves the scoring date (``params.yaml`` ``as_of``, or the last
transaction date when it is empty) from one scan of ``data/interim/transactions.parquet``
and writes it, with the data's first and last dates, the row count, the extract date (the
transaction mapping's ``extract_date``, when it has one) and a run id, to
``data/processed/context.json``. Every later stage reads that file; none rescans the
transactions for ``as_of``.

The run id is a content id, not a clock: the first 12 hex digits of SHA-256 over as_of,
the date range, the row count and the transaction file's size, so an unchanged input gives
an unchanged context (and DVC does not rerun the later stages).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kequn.errors import UserError
from kequn.io import write_json

#: the file's format version; a reader refuses any other
VERSION = 1
PATH = Path("data/processed/context.json")


@dataclass(frozen=True)
class RunContext:
    """What every stage after features knows about the run.

    Attributes
    ----------
    as_of : datetime.date
        The scoring date: nothing after it is read.
    first_date, last_date : datetime.date
        The first and last transaction dates in the clean data (before the as_of cut).
    transactions : int
        Rows of the clean transaction table.
    extract_date : datetime.date or None
        The extract's date from the transaction mapping, when it states one.
    run_id : str
        Content id of the above (see the module docstring).
    """

    as_of: dt.date
    first_date: dt.date
    last_date: dt.date
    transactions: int
    extract_date: dt.date | None
    run_id: str
    version: int = VERSION


def make_context(
    as_of: dt.date,
    first_date: dt.date,
    last_date: dt.date,
    transactions: int,
    *,
    extract_date: dt.date | None = None,
    source_bytes: int = 0,
) -> RunContext:
    """A :class:`RunContext` with its run id.

    Parameters
    ----------
    as_of, first_date, last_date, transactions, extract_date
        See :class:`RunContext`.
    source_bytes
        Size of the transaction file, part of the run id.

    Returns
    -------
    RunContext
    """
    key = f"{as_of}|{first_date}|{last_date}|{transactions}|{extract_date}|{source_bytes}"
    run_id = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return RunContext(as_of, first_date, last_date, int(transactions), extract_date, run_id)


def write_context(context: RunContext, path: str | Path = PATH) -> None:
    """Write ``context`` as JSON, atomically (dates as YYYY-MM-DD)."""
    payload = {k: _text(v) for k, v in asdict(context).items()}
    write_json(Path(path), payload)


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def read_context(path: str | Path = PATH) -> RunContext:
    """The run context written by the features stage.

    Parameters
    ----------
    path
        The context file (``data/processed/context.json``).

    Returns
    -------
    RunContext
        Raises :class:`UserError` (one line naming the file) when it is missing, malformed
        or of another version.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: not found; run the features stage first (dvc repro features)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: line {exc.lineno}: not valid JSON") from None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        found = raw.get("version") if isinstance(raw, dict) else None
        raise UserError(f"{path}: version {found!r}, expected {VERSION}; rerun the features stage")
    try:
        extract = raw.get("extract_date")
        return RunContext(
            as_of=dt.date.fromisoformat(raw["as_of"]),
            first_date=dt.date.fromisoformat(raw["first_date"]),
            last_date=dt.date.fromisoformat(raw["last_date"]),
            transactions=int(raw["transactions"]),
            extract_date=dt.date.fromisoformat(extract) if extract else None,
            run_id=str(raw["run_id"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: malformed run context ({exc})") from None
