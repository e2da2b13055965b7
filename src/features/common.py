"""What both engines (DuckDB, Spark) share around the SQL of :mod:`features.sql`: argument
checks, the client-master check, and the shaping of query results.

pandas is imported only where a frame is built, so the features stage, whose table DuckDB
writes straight to Parquet, starts without it (0.4 s less per run)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from features import sql
from kequn.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

HOLDOUT_COLUMNS: dict[str, str] = {
    "customer_id": "object",
    "holdout_transactions": "int64",
    "holdout_value": "float64",
}


def check_dates(as_of: object, name: str) -> dt.date:
    """``as_of`` / ``cutoff`` / ``end`` must be ``datetime.date`` values."""
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    raise TypeError(f"{name} must be a datetime.date, got {type(as_of).__name__}")


def check_params(unit_days: float, trend_window_days: int) -> None:
    """``features.time_unit_days`` > 0; ``features.trend_window_days`` a positive integer."""
    if not unit_days or unit_days <= 0:
        raise UserError(f"params.yaml: features.time_unit_days={unit_days!r} must be > 0")
    if int(trend_window_days) != trend_window_days or trend_window_days <= 0:
        raise UserError(
            f"params.yaml: features.trend_window_days={trend_window_days!r} "
            "must be a positive whole number of days"
        )


def check_holdout(cutoff: object, end: object) -> tuple[dt.date, dt.date]:
    """The holdout ``(cutoff, end]`` as dates; ``end`` after ``cutoff``."""
    cutoff = check_dates(cutoff, "cutoff")
    end = check_dates(end, "end")
    if end <= cutoff:
        raise UserError(f"holdout end {end} must be after the cutoff {cutoff}")
    return cutoff, end


def category_names(rows: Iterable[tuple[str, str]], kinds: tuple[str, ...]) -> dict:
    """``{kind: sorted names}`` from the ``(kind, category)`` rows of
    :func:`features.sql.categories_query` (every kind in ``kinds`` present)."""
    names: dict[str, set[str]] = {kind: set() for kind in kinds}
    for kind, category in rows:
        names[kind].add(category)
    return {kind: sorted(found) for kind, found in names.items()}


def customer_table_query(
    fetch: Callable[[str], list[tuple]],
    columns: list[str],
    as_of: dt.date,
    unit_days: float,
    trend_window_days: int,
    client_columns: list[str] | None,
) -> str:
    """:func:`features.sql.customer_table_query` for a source with ``columns``: its product
    and channel categories and the size of its amounts looked up with ``fetch`` (an
    engine's runner: DuckDB-dialect SQL in, rows out)."""
    kinds = tuple(column for column in ("product", "channel") if column in columns)
    rows = fetch(sql.categories_query(kinds, as_of)) if kinds else []
    ((largest,),) = fetch(sql.amount_size_query(as_of))
    return sql.customer_table_query(
        as_of,
        unit_days=unit_days,
        trend_window_days=int(trend_window_days),
        categories=category_names(rows, kinds),
        client_columns=client_columns,
        money=sql.money_type(largest),
    )


def check_unique_clients(rows: list[tuple]) -> None:
    """Raise when :func:`features.sql.duplicate_clients_query` found a duplicated id."""
    if rows:
        customer_id, extra_rows = rows[0]
        raise UserError(
            f"clients: customer_id {customer_id!r} appears more than once "
            f"({int(extra_rows)} duplicate rows); the client master needs one row per client"
        )


def is_frame(value: object) -> bool:
    """Whether ``value`` is a pandas DataFrame (without importing pandas: if it is not
    imported yet, nothing can be a DataFrame)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def holdout_table(calibration: pd.DataFrame, holdout: pd.DataFrame) -> pd.DataFrame:
    """One holdout row per calibration customer; zeros for customers without holdout rows."""
    import numpy as np
    import pandas as pd

    holdout = holdout[list(HOLDOUT_COLUMNS)].astype(HOLDOUT_COLUMNS).set_index("customer_id")
    index = pd.Index(calibration["customer_id"], name="customer_id")
    out = holdout.reindex(index)
    out["holdout_transactions"] = out["holdout_transactions"].fillna(0).astype(np.int64)
    out["holdout_value"] = out["holdout_value"].fillna(0.0).astype(np.float64)
    return out.reset_index()
