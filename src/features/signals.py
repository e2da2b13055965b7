"""Balance (AUM) and service-event features as of ``as_of``, on DuckDB or Spark.

Both read only rows dated on or before ``as_of``, as the transaction features do (the
outcomes of a backtest are after its cut-off). The SQL is DuckDB's dialect; the Spark
engine runs the same text through :func:`kequn.spark.to_spark_sql`.

**Balances.** Months are calendar months; ``M0`` is the latest month with any snapshot
on or before ``as_of``, ``k`` months back is ``M0 - k``. A line's balance in a month is its last
snapshot of that month, carried forward for at most :data:`CARRY_MONTHS` months when a
month is missing. AUM of a month ``A_k`` is the sum of the positive line balances (loans
are negative and are not assets; their sum is ``loan_balance``). From the customer's first
snapshot month on, a month with no line is ``A_k = 0`` (the money has gone); before it,
unknown.

- ``aum_latest = A_0``;
- ``aum_change_{1,3,6}m = A_0 / A_j - 1`` (NaN when ``A_j`` is 0 or unknown);
- ``aum_decline_months``: the largest ``n`` (at most 12) with ``A_0 < A_1 < ... < A_n``;
- ``aum_share_<line> = `` the line's balance in ``M0`` / ``A_0`` (positive lines only).

**Events** (canonical types of the events mapping's ``values``): ``complaints_90d`` and
``complaints_365d`` (complaints dated in ``(as_of - d, as_of]``), ``unresolved_complaints``
(complaints on or before ``as_of`` with no resolved date on or before it),
``days_since_unresolved`` (days from the latest of those to ``as_of``) and
``last_survey_score`` (the latest survey's score; on one day, the lowest).

**Neutral values** for a customer without snapshots: NaN for ``aum_*`` and
``loan_balance``, 0 for ``aum_decline_months``; without events: 0 for the counts, NaN for
``days_since_unresolved`` and ``last_survey_score``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.signals import COMPLAINT, SURVEY
from kequn.io import atomic_path
from kequn.sql_text import identifier, literal, parquet_source

BALANCES, EVENTS = "balances", "events"
#: a missing month takes the line's previous balance for at most this many months
CARRY_MONTHS = 2
#: the longest decline counted
MAX_DECLINE = 12
CHANGE_MONTHS = (1, 3, 6)
#: sums of money are rounded to cents: a parallel SUM adds in no fixed order, and its last
#: bits would otherwise differ from run to run (and so would customers.parquet's bytes)
MONEY_DIGITS = 2
#: every balance feature but the per-line shares, and every event feature
BALANCE_COLUMNS = (
    "aum_latest",
    "aum_change_1m",
    "aum_change_3m",
    "aum_change_6m",
    "aum_decline_months",
    "loan_balance",
)
EVENT_COLUMNS = (
    "complaints_90d",
    "complaints_365d",
    "unresolved_complaints",
    "days_since_unresolved",
    "last_survey_score",
)

Run = Callable[[str], pd.DataFrame]


def _day(day: dt.date) -> str:
    return f"CAST({literal(day.isoformat())} AS DATE)"


def outline_query(as_of: dt.date, has_product: bool = True) -> str:
    """The product lines and calendar months (``m`` = year * 12 + month - 1) of the snapshots
    on or before ``as_of``, with ``positive``: whether any balance of the line in that
    month is above 0 (one small row per line and month; :func:`balance_query` needs them
    to write its columns)."""
    product = "coalesce(product, '')" if has_product else "''"
    return (
        f"SELECT {product} AS line, year(date) * 12 + month(date) - 1 AS m, "
        f"coalesce(MAX(balance) > 0, FALSE) AS positive FROM {BALANCES} "
        f"WHERE date <= {_day(as_of)} "
        "GROUP BY ALL ORDER BY line, m"
    )


def _month_slots(months: list[int]) -> tuple[int, list[int], list[int]]:
    """``(m0, ks, slots)`` of the snapshot months: the latest month, the ``k`` of the
    series (months with a snapshot, ``k`` at most :data:`MAX_DECLINE`) and the months back
    whose snapshots can reach one of them (``k`` + :data:`CARRY_MONTHS` at most)."""
    if not months:
        return 0, [0], []
    m0 = max(months)
    back = sorted({m0 - m for m in months})
    ks = [k for k in back if k <= MAX_DECLINE]
    return m0, ks, [j for j in back if j <= MAX_DECLINE + CARRY_MONTHS]


def balance_query(
    as_of: dt.date,
    lines: list[str],
    months: list[int],
    has_product: bool = True,
    customers: str | None = None,
) -> str:
    """One row per customer with a snapshot on or before ``as_of``: the balance features
    (module docstring), in one pass over the snapshots.

    ``lines``: the positive lines (the share columns); ``months``: every snapshot month
    ``m`` (:func:`outline_query`), which fix ``M0`` and the series' months, so that a
    customer's row does not depend on the others'. ``customers``: a relation whose
    ``customer_id`` (compared as text) limits the rows to those customers.

    Each (customer, line) is one group: its balance ``b_j`` in month ``M0 - j`` is its
    last snapshot of that month (a line has one snapshot a day: ingest rejects a second as
    ``duplicate_snapshot``), the balance it holds in month ``k`` is the first of ``b_k``,
    ``b_{k+1}``, ..., ``b_{k+C}`` that exists (carried at most ``C`` =
    :data:`CARRY_MONTHS` months), and ``first_m`` its first snapshot month. Per customer,
    ``A_k`` sums the positive ones (unknown before the customer's first month) and the
    decline is the first ``k`` of the series with ``A_k >= A_{k'}`` for the next series
    month ``k'`` (or with no known ``k'``).
    """
    product = "coalesce(product, '')" if has_product else "''"
    m0, ks, slots = _month_slots(months)
    restrict = ""
    if customers is not None:
        restrict = (
            " AND CAST(customer_id AS VARCHAR) IN "
            f"(SELECT CAST(customer_id AS VARCHAR) FROM {customers})"
        )
    changes = "".join(
        (f"a0 / NULLIF(a{j}, 0) - 1" if j in ks else "CAST(NULL AS DOUBLE)")
        + f" AS aum_change_{j}m, "
        for j in CHANGE_MONTHS
    )
    after = [*ks[1:], None]
    decline = " ".join(
        f"WHEN a{k} IS NOT NULL AND NOT coalesce(a{k} < {'NULL' if n is None else f'a{n}'}, "
        f"FALSE) THEN {k}"
        for k, n in zip(ks, after, strict=True)
    )
    shares = "".join(
        f",\n       {identifier('l_' + name)} / NULLIF(a0, 0) AS {identifier('aum_share_' + name)}"
        for name in lines
    )
    return f"""{_per_customer_ctes(as_of, lines, m0, ks, slots, product, restrict)}
SELECT customer_id, a0 AS aum_latest, {changes}
       CAST(CASE {decline} ELSE {MAX_DECLINE} END AS BIGINT) AS aum_decline_months,
       coalesce(debt, 0.0) AS loan_balance{shares}
FROM per_customer ORDER BY customer_id
"""


def _per_customer_ctes(
    as_of: dt.date,
    lines: list[str],
    m0: int,
    ks: list[int],
    slots: list[int],
    product: str,
    restrict: str,
) -> str:
    """The CTEs of :func:`balance_query` up to ``per_customer``: one row per customer with
    ``a<k>`` (``A_k``, NULL before the customer's first month) for each series month ``k``,
    ``debt`` and the positive balance ``l_<line>`` of each of ``lines`` in ``M0``."""
    last = "".join(
        f",\n           arg_max(balance, date) FILTER (WHERE m = {m0 - j}) AS b{j}" for j in slots
    )
    held = "".join(
        f",\n           coalesce({', '.join(_slot(k + c, slots) for c in range(CARRY_MONTHS + 1))})"
        f" AS v{k}"
        for k in ks
    )
    aum = "".join(
        f",\n           CASE WHEN MIN(first_m) <= {m0 - k} THEN ROUND(SUM(CASE WHEN v{k} > 0 "
        f"THEN v{k} ELSE 0 END), {MONEY_DIGITS}) END AS a{k}"
        for k in ks
    )
    line_sums = "".join(
        f",\n           SUM(CASE WHEN line = {literal(name)} AND v0 > 0 THEN v0 ELSE 0 END)"
        f" AS {identifier('l_' + name)}"
        for name in lines
    )
    return f"""
WITH per_line AS (
    SELECT customer_id, line, MIN(m) AS first_m{last}
    FROM (SELECT customer_id, {product} AS line, date, balance,
                 year(date) * 12 + month(date) - 1 AS m
          FROM {BALANCES} WHERE date <= {_day(as_of)}{restrict}) AS snaps
    GROUP BY customer_id, line
),
held AS (
    SELECT customer_id, line, first_m{held} FROM per_line
),
per_customer AS (
    SELECT customer_id{aum},
           ROUND(SUM(CASE WHEN v0 < 0 THEN v0 ELSE 0 END), {MONEY_DIGITS}) AS debt{line_sums}
    FROM held GROUP BY customer_id
)"""


def _slot(j: int, slots: list[int]) -> str:
    return f"b{j}" if j in slots else "CAST(NULL AS DOUBLE)"


def aum_trend_query(
    as_of: dt.date, groups: str, column: str, months: list[int], has_product: bool = True
) -> str:
    """Total AUM per month (the series months of :func:`balance_query`: the last
    :data:`MAX_DECLINE` + 1 months to ``as_of``'s latest snapshot month that have a
    snapshot) and group: ``month`` (first day), ``k``, ``grp``, ``aum``, ``customers`` (with
    a positive AUM). ``groups``: a relation with ``customer_id`` and ``column``; customers
    not in it are group ``''``. ``months``: every snapshot month (:func:`outline_query`).

    One pass: :func:`balance_query`'s ``A_k`` per customer (NULL before the customer's
    first month, so not counted there), unnested to one row per customer and ``k``, then
    summed per month and group."""
    product = "coalesce(product, '')" if has_product else "''"
    m0, ks, slots = _month_slots(months)
    month = f"({m0} - k)"
    return f"""{_per_customer_ctes(as_of, [], m0, ks, slots, product, "")}
SELECT make_date(CAST({month} // 12 AS INTEGER), CAST({month} % 12 + 1 AS INTEGER), 1) AS month,
       k, grp, ROUND(SUM(aum), {MONEY_DIGITS}) AS aum,
       COUNT(CASE WHEN aum > 0 THEN 1 END) AS customers
FROM (SELECT coalesce(CAST(g.{identifier(column)} AS VARCHAR), '') AS grp,
             UNNEST([{", ".join(str(k) for k in ks)}]) AS k,
             UNNEST([{", ".join(f"a{k}" for k in ks)}]) AS aum
      FROM per_customer AS p LEFT JOIN {groups} AS g ON g.customer_id = p.customer_id) AS t
WHERE aum IS NOT NULL
GROUP BY ALL ORDER BY month, grp
"""


def event_query(as_of: dt.date, columns: list[str]) -> str:
    """One row per customer with an event on or before ``as_of``: the event features.

    Without a mapped ``resolved_date`` the unresolved columns are NaN; without ``score``,
    ``last_survey_score`` is.
    """
    day = _day(as_of)
    complaint = f"type = {literal(COMPLAINT)}"
    if "resolved_date" in columns:
        unresolved = f"{complaint} AND (resolved_date IS NULL OR resolved_date > {day})"
        n_unresolved = f"CAST(COUNT(CASE WHEN {unresolved} THEN 1 END) AS DOUBLE)"
        since = f"CAST(MIN(CASE WHEN {unresolved} THEN DATEDIFF('day', date, {day}) END) AS DOUBLE)"
    else:
        n_unresolved = since = "CAST(NULL AS DOUBLE)"
    score = "CAST(score AS DOUBLE)" if "score" in columns else "CAST(NULL AS DOUBLE)"
    windows = "".join(
        f"CAST(COUNT(CASE WHEN {complaint} AND date > {_day(as_of - dt.timedelta(days=d))} "
        f"THEN 1 END) AS BIGINT) AS complaints_{d}d, "
        for d in (90, 365)
    )
    return f"""
WITH before AS (SELECT * FROM {EVENTS} WHERE date <= {day}),
surveys AS (
    SELECT customer_id, score FROM (
        SELECT customer_id, {score} AS score, ROW_NUMBER() OVER (
            PARTITION BY customer_id ORDER BY date DESC, {score} ASC) AS rn
        FROM before WHERE type = {literal(SURVEY)} AND {score} IS NOT NULL) AS t
    WHERE rn = 1
),
counts AS (
    SELECT customer_id, {windows}
           {n_unresolved} AS unresolved_complaints,
           {since} AS days_since_unresolved
    FROM before GROUP BY customer_id
)
SELECT c.*, s.score AS last_survey_score
FROM counts AS c LEFT JOIN surveys AS s ON s.customer_id = c.customer_id
ORDER BY c.customer_id
"""


def balance_query_for(
    run: Run, as_of: dt.date, balance_columns: list[str], customers: str | None = None
) -> tuple[str, list[str]]:
    """:func:`balance_query` with its product lines and months read first
    (:func:`outline_query`, through ``run``); returns the query and its positive lines."""
    has_product = "product" in balance_columns
    lines, months = outline(run, as_of, has_product)
    return balance_query(as_of, lines, months, has_product, customers), lines


def outline(run: Run, as_of: dt.date, has_product: bool) -> tuple[list[str], list[int]]:
    """The product lines with a positive balance and every snapshot month (``m``) on or
    before ``as_of``, sorted (:func:`outline_query`, through ``run``)."""
    frame = run(outline_query(as_of, has_product))
    lines = sorted(set(frame.loc[frame["positive"].astype(bool), "line"]))
    return lines, sorted(set(frame["m"].astype(int)))


def signal_columns(names: list[str]) -> list[str]:
    """The balance and event feature columns among ``names`` (a customer table's), in order."""
    known = {*BALANCE_COLUMNS, *EVENT_COLUMNS}
    return [name for name in names if name in known or name.startswith("aum_share_")]


def _unordered(query: str) -> str:
    """``query`` without its final ``ORDER BY <column>``: a joined part need not be sorted
    (the joined query sorts once)."""
    return re.sub(r"\s*ORDER BY [\w.]+\s*$", "\n", query)


def _not_a_number(column: str) -> str:
    """``column`` as a double, NULL written as NaN (the value :func:`join_signals` leaves)."""
    return f"coalesce(CAST({column} AS DOUBLE), CAST('NaN' AS DOUBLE))"


def joined_signals_query(
    table: str,
    run: Run,
    as_of: dt.date,
    balance_columns: list[str] | None,
    event_columns: list[str] | None,
) -> tuple[str, list[str]]:
    """``table`` (a query with one row per ``customer_id``) with the signal features
    left-joined in SQL, ordered by ``customer_id``: the columns, types and neutral values of
    :func:`join_signals` over :func:`signal_features`, NaN (not NULL) where that leaves NaN.

    ``run`` runs the small queries that shape the columns (the product lines and months of
    the balances, whether any event is dated on or before ``as_of``). Returns the query and
    the names of the added columns, in :func:`join_signals`' order.
    """
    columns, joins = [], []
    if balance_columns is not None:
        query, lines = balance_query_for(run, as_of, balance_columns)
        joins.append(f"LEFT JOIN ({_unordered(query)}) AS b ON b.customer_id = c.customer_id")
        for name in (*BALANCE_COLUMNS, *(f"aum_share_{line}" for line in lines)):
            if name == "aum_decline_months":
                columns.append((f"CAST(coalesce(b.{name}, 0) AS BIGINT)", name))
            else:
                columns.append((_not_a_number(f"b.{identifier(name)}"), name))
    if event_columns is not None:
        events = _unordered(event_query(as_of, event_columns))
        joins.append(f"LEFT JOIN ({events}) AS e ON e.customer_id = c.customer_id")
        dated = run(f"SELECT COUNT(*) AS n FROM {EVENTS} WHERE date <= {_day(as_of)}")
        counted = ["complaints_90d", "complaints_365d"]
        if "resolved_date" in event_columns and int(dated["n"].iloc[0]) > 0:
            counted.append("unresolved_complaints")
        for name in EVENT_COLUMNS:
            if name in counted:
                columns.append((f"CAST(coalesce(e.{name}, 0) AS BIGINT)", name))
            else:
                columns.append((_not_a_number(f"e.{name}"), name))
    select = "".join(f",\n       {sql} AS {identifier(name)}" for sql, name in columns)
    query = f"""SELECT c.*{select}
FROM ({_unordered(table)}) AS c
{chr(10).join(joins)}
ORDER BY c.customer_id
"""
    return query, [name for _, name in columns]


def signal_features(
    run: Run,
    as_of: dt.date,
    balance_columns: list[str] | None,
    event_columns: list[str] | None,
    customers: str | None = None,
) -> pd.DataFrame | None:
    """The balance and event features of every customer found in either, by customer_id.

    Parameters
    ----------
    run : callable
        Runs one DuckDB-dialect query over the views ``balances`` / ``events`` and returns
        a pandas frame (the engine's).
    as_of : date
        Nothing dated after it is read.
    balance_columns, event_columns : list of str or None
        The columns of each view, or None when the extract is not configured (empty).
    customers : str, optional
        A relation of ``customer_id``: the balance features are computed for those
        customers only (the costly part; :func:`balance_query`), each row as the whole
        table gives it. The product lines stay those of every snapshot. None: everyone.

    Returns
    -------
    DataFrame or None
        ``customer_id`` plus the columns of the configured extracts (module docstring);
        None when neither is configured.
    """
    parts = []
    if balance_columns is not None:
        parts.append(run(balance_query_for(run, as_of, balance_columns, customers)[0]))
    if event_columns is not None:
        parts.append(run(event_query(as_of, event_columns)))
    if not parts:
        return None
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part, on="customer_id", how="outer")
    return merged.sort_values("customer_id", ignore_index=True)


def join_signals(
    customers: pd.DataFrame,
    signals: pd.DataFrame | None,
    balances: bool,
    events: bool,
) -> pd.DataFrame:
    """``customers`` with the signal columns, the neutral values (module docstring) for
    customers without snapshots or events; rows and order of ``customers`` kept."""
    if signals is None:
        return customers
    out = customers.merge(signals, on="customer_id", how="left", validate="one_to_one")
    if balances:
        out["aum_decline_months"] = out["aum_decline_months"].fillna(0).astype("int64")
    if events:
        for column in ("complaints_90d", "complaints_365d"):
            out[column] = out[column].fillna(0).astype("int64")
        if signals["unresolved_complaints"].notna().any():  # resolved_date is mapped
            out["unresolved_complaints"] = out["unresolved_complaints"].fillna(0).astype("int64")
    for column in out.columns.difference(customers.columns):
        if out[column].dtype == object:
            out[column] = out[column].astype("float64")
    return out.astype({c: np.float64 for c in ("last_survey_score",) if c in out})


Source = pd.DataFrame | str | Path | None


def present(source: Source) -> bool:
    """A configured extract: a non-empty frame or a Parquet file with rows."""
    if source is None:
        return False
    if isinstance(source, pd.DataFrame):
        return len(source) > 0
    return Path(source).exists() and pq.ParquetFile(source).metadata.num_rows > 0


def duckdb_views(con, sources: dict[str, Source]) -> dict[str, list[str]]:
    """Each source (a frame or a Parquet path) as a DuckDB view named by its key; returns
    the views' columns."""
    for name, src in sources.items():
        if isinstance(src, pd.DataFrame):
            con.register(name, src)
        else:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM {parquet_source(src)}")
    return {n: list(con.sql(f"SELECT * FROM {n} LIMIT 0").columns) for n in sources}


def compute_signals(
    as_of: dt.date,
    balances: Source,
    events: Source,
    engine: str = "duckdb",
    spark=None,
    customers: pd.Series | None = None,
) -> pd.DataFrame | None:
    """:func:`signal_features` over ``balances`` / ``events`` (frames or Parquet paths;
    None or empty = not configured) on ``engine`` (``duckdb`` or ``spark``).

    ``customers``: ids whose balance features are wanted (DuckDB computes only those; the
    rows of other customers may still be returned, and are on Spark); None: everyone."""
    sources = {BALANCES: balances, EVENTS: events}
    sources = {name: src for name, src in sources.items() if present(src)}
    if not sources:
        return None
    if engine == "spark":
        from kequn.spark import get_session, to_spark_sql

        spark = spark or get_session()
        columns = {}
        for name, src in sources.items():
            if isinstance(src, pd.DataFrame):
                frame = spark.createDataFrame(src)
            else:
                frame = spark.read.parquet(Path(src).resolve().as_uri())
            frame.createOrReplaceTempView(name)
            columns[name] = list(frame.columns)
        run = lambda query: spark.sql(to_spark_sql(query)).toPandas()  # noqa: E731
        return signal_features(run, as_of, columns.get(BALANCES), columns.get(EVENTS))
    con = duckdb.connect()
    with con:
        columns = duckdb_views(con, sources)
        chosen = None
        if customers is not None:
            chosen = "signal_customers"
            con.register(chosen, pd.DataFrame({"customer_id": customers.to_numpy()}))
        run = lambda query: con.execute(query).df()  # noqa: E731
        return signal_features(run, as_of, columns.get(BALANCES), columns.get(EVENTS), chosen)


#: the columns of :func:`aum_trend`
TREND_COLUMNS = ["month", "group", "aum", "customers"]


def aum_trend(balances: Source, groups: str | Path, column: str, as_of: dt.date) -> pd.DataFrame:
    """AUM per month and group for the last :data:`MAX_DECLINE` + 1 months (DuckDB).

    Parameters
    ----------
    balances : frame or Parquet path
        The balance snapshots (None or empty: not configured).
    groups : path
        A Parquet file with ``customer_id`` and ``column`` (e.g. segments.parquet and
        ``value_tier``).
    column : str
        The group column.
    as_of : date
        Snapshots after it are not read.

    Returns
    -------
    DataFrame
        :data:`TREND_COLUMNS`: ``month`` (ISO date of its first day), ``group``, total
        ``aum`` (the module docstring's ``A_k`` summed over the group's customers, with the
        same carry-forward rule as the features) and ``customers`` with a positive AUM;
        no rows when there are no snapshots.
    """
    if not present(balances):
        return pd.DataFrame(columns=TREND_COLUMNS)
    con = duckdb.connect()
    with con:
        has_product = "product" in duckdb_views(con, {BALANCES: balances})[BALANCES]
        _, months = outline(lambda q: con.execute(q).df(), as_of, has_product)
        query = aum_trend_query(as_of, parquet_source(groups), column, months, has_product)
        frame = con.execute(query).df()
    frame["month"] = pd.to_datetime(frame["month"]).dt.strftime("%Y-%m-%d")
    frame = frame.rename(columns={"grp": "group"})
    return frame[TREND_COLUMNS].astype({"aum": float, "customers": "int64"})


def add_signals(
    customers: pd.DataFrame, as_of: dt.date, balances: Source, events: Source, engine="duckdb"
) -> pd.DataFrame:
    """``customers`` (a feature table as of ``as_of``) with the signal features joined;
    the balance features are computed for its customers only (a backtest table of a fit
    sample need not pay for the whole balance extract)."""
    ids = customers["customer_id"]
    signals = compute_signals(as_of, balances, events, engine, customers=ids)
    return join_signals(customers, signals, present(balances), present(events))


def add_signals_to_file(
    path: str | Path, as_of: dt.date, balances: Source, events: Source, engine="duckdb"
) -> list[str]:
    """Append the signal features to the customer table in ``path`` (rewritten atomically,
    its own columns untouched); returns the columns added."""
    signals = compute_signals(as_of, balances, events, engine)
    if signals is None:
        return []
    table = pq.read_table(path)
    ids = pd.DataFrame({"customer_id": table["customer_id"].to_pandas()})
    joined = join_signals(ids, signals, present(balances), present(events))
    added = [c for c in joined.columns if c != "customer_id"]
    for column in added:
        table = table.append_column(column, pa.array(joined[column].to_numpy()))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return added
