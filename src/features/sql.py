"""The aggregation over transactions, as SQL in the DuckDB dialect.

Every query reads one relation named :data:`SOURCE` (``transactions``: a registered data
frame, a view over ``read_parquet(...)`` or, later, a Spark temporary view) and uses only
constructs that ``sqlglot.transpile(sql, read="duckdb", write="spark")`` translates, so the
same text runs on Apache Spark. Dates and numbers are inlined as literals.

Money is summed exactly, as decimals with 6 places: independent of the order in which
parallel workers combine partial sums, so two runs give byte-identical outputs (a parallel
floating-point sum is not). Sums are ``DECIMAL(38, 6)``; the customer table casts each
row's amount to ``DECIMAL(18, 6)`` (64-bit, a fifth less aggregation time) when every
amount is below :data:`SMALL_MONEY_LIMIT` in size (:func:`amount_size_query`), to
``DECIMAL(38, 6)`` otherwise -- the same sums either way. The spread of the gaps is
computed from exact integer sums::

    s = sqrt((n * sum(g^2) - (sum g)^2) / (n * (n - 1)))     (sample standard deviation)
"""

from __future__ import annotations

import datetime as dt

from kequn.sql_text import identifier, literal

#: name of the relation every query reads
SOURCE = "transactions"

#: columns a transaction source must have
REQUIRED_COLUMNS = ("customer_id", "date", "amount")

MONEY = "DECIMAL(38, 6)"

#: the row type of amounts below :data:`SMALL_MONEY_LIMIT` in size (18 digits, 12 before
#: the point)
SMALL_MONEY = "DECIMAL(18, 6)"
SMALL_MONEY_LIMIT = 10**12 - 1


def date_literal(day: dt.date) -> str:
    """``DATE 'YYYY-MM-DD'`` for ``day``."""
    return f"DATE '{day.isoformat()}'"


def clean_rows(end: dt.date, start: dt.date | None = None, categories: tuple[str, ...] = ()) -> str:
    """CTE ``tx``: typed transaction rows with ``start < date <= end``.

    ``categories`` are optional string columns (``product``, ``channel``) carried along.
    """
    extra = "".join(f",\n    CAST({name} AS VARCHAR) AS {name}" for name in categories)
    where = f"CAST(date AS DATE) <= {date_literal(end)}"
    if start is not None:
        where = f"CAST(date AS DATE) > {date_literal(start)} AND {where}"
    return f"""tx AS (
  SELECT
    CAST(customer_id AS VARCHAR) AS customer_id,
    CAST(date AS DATE) AS date,
    CAST(amount AS {MONEY}) AS amount{extra}
  FROM {SOURCE}
  WHERE {where}
)"""


def amount_size_query(as_of: dt.date) -> str:
    """The largest absolute amount on or before ``as_of`` (NULL when there is none)."""
    return f"""SELECT MAX(ABS(CAST(amount AS DOUBLE))) AS largest
FROM {SOURCE}
WHERE CAST(date AS DATE) <= {date_literal(as_of)}"""


def money_type(largest_amount: float | None) -> str:
    """The decimal type each row's amount is cast to, given the largest absolute amount."""
    if largest_amount is None or largest_amount < SMALL_MONEY_LIMIT:
        return SMALL_MONEY
    return MONEY


def date_range_query() -> str:
    """First date, last date and row count of the whole source."""
    return f"""SELECT
  MIN(CAST(date AS DATE)) AS first_date,
  MAX(CAST(date AS DATE)) AS last_date,
  COUNT(*) AS n_rows
FROM {SOURCE}"""


#: the relation holding the client master, when there is one
CLIENTS = "clients"

#: the client master's standard columns, always in the output when a master is given, with
#: their SQL type (any other master column is carried as it is, after these)
CLIENT_COLUMNS: dict[str, str] = {
    "client_type": "VARCHAR",
    "industry": "VARCHAR",
    "region": "VARCHAR",
    "open_date": "DATE",
    "asset_balance": "DOUBLE",
    "close_date": "DATE",
}

#: the windows a category's value is summed over, per kind: ``None`` all rows, 2 the
#: recent window, 1 the prior one
VALUE_WINDOWS: dict[str, tuple[int | None, ...]] = {"product": (None,), "channel": (None, 2, 1)}

#: categories per presence mask: each has three bits, one per window (``win`` 0 older,
#: 1 prior, 2 recent), so a BIGINT mask holds 20 categories in bits 0..59
CATEGORIES_PER_MASK = 20

#: window names used in column aliases
_WINDOW_NAMES = {None: "all", 2: "recent", 1: "prior"}


def categories_query(columns: tuple[str, ...], as_of: dt.date) -> str:
    """Every non-blank value of the category ``columns`` (``product``, ``channel``) in the
    rows on or before ``as_of``: one row per ``kind`` (the column's name) and ``category``.
    Only the empty string and NULL are blank."""
    return "\nUNION ALL\n".join(
        f"""SELECT DISTINCT '{column}' AS kind, CAST({column} AS VARCHAR) AS category
FROM {SOURCE}
WHERE CAST(date AS DATE) <= {date_literal(as_of)}
  AND {column} IS NOT NULL AND CAST({column} AS VARCHAR) <> ''"""
        for column in columns
    )


def _bit(index: int, window: int = 0) -> tuple[int, int]:
    """Category ``index``'s mask number, and its bit there for rows in ``window``
    (``win`` 0, 1 or 2)."""
    return index // CATEGORIES_PER_MASK, 1 << (3 * (index % CATEGORIES_PER_MASK) + window)


def _blocks(names: list[str]) -> range:
    return range(_bit(len(names) - 1)[0] + 1)


def _value(kind: str, index: int, window: int | None) -> str:
    return f"{kind}_{index}_{_WINDOW_NAMES[window]}_value"


def _category_bits(kind: str, names: list[str]) -> str:
    """``<kind>_bits_<m>``: the bit of the row's category in mask ``m`` for window 0 (see
    :func:`_bit`); NULL when blank or in another mask. Rows compare and combine small
    integers, not text."""
    columns = []
    for block in _blocks(names):
        whens = " ".join(
            f"WHEN {literal(name)} THEN {_bit(i)[1]}"
            for i, name in enumerate(names)
            if _bit(i)[0] == block
        )
        columns.append(f"CASE CAST({kind} AS VARCHAR) {whens} END AS {kind}_bits_{block}")
    return ",\n    ".join(columns)


def _window_bits(categories: dict[str, list[str]]) -> str:
    """``<kind>_slot_<m>``: the row's category bit moved to the row's window (``win``)."""
    return "".join(
        f",\n    {kind}_bits_{block} * CASE win WHEN 2 THEN 4 WHEN 1 THEN 2 ELSE 1 END"
        f" AS {kind}_slot_{block}"
        for kind, names in categories.items()
        for block in _blocks(names)
    )


def _category_aggregates(categories: dict[str, list[str]]) -> str:
    """Per customer: each category's value summed over :data:`VALUE_WINDOWS`, and per kind
    a mask of the (category, window) pairs with a row (``BIT_OR`` of the slots)."""
    lines = []
    for kind, names in categories.items():
        for index in range(len(names)):
            block, bit = _bit(index)
            for window in VALUE_WINDOWS[kind]:
                condition = (
                    f"{kind}_bits_{block} = {bit}"
                    if window is None
                    else f"{kind}_slot_{block} = {_bit(index, window)[1]}"
                )
                lines.append(
                    f"SUM(CASE WHEN {condition} THEN amount ELSE 0 END) "
                    f"AS {_value(kind, index, window)}"
                )
        for block in _blocks(names):
            lines.append(f"COALESCE(BIT_OR({kind}_slot_{block}), 0) AS {kind}_mask_{block}")
    return "".join(f",\n    {line}" for line in lines)


def _window_pattern(kind: str, names: list[str], block: int, window: int | None) -> int:
    """The bits of mask ``block`` that mean a row in ``window`` (all three when ``None``)."""
    windows = (0, 1, 2) if window is None else (window,)
    return sum(_bit(i, w)[1] for i in range(len(names)) if _bit(i)[0] == block for w in windows)


def _present(kind: str, index: int, window: int | None) -> str:
    """Whether category ``index`` of ``kind`` has a row in ``window``."""
    block, _ = _bit(index)
    windows = (0, 1, 2) if window is None else (window,)
    pattern = sum(_bit(index, w)[1] for w in windows)
    return f"({kind}_mask_{block} & {pattern}) <> 0"


def _count_present(kind: str, names: list[str], window: int | None) -> str:
    """How many categories of ``kind`` have at least one row (in ``window``): the bits
    of that window in the masks, counted (over all windows: the three bits of each
    category folded onto its first)."""
    if not names:
        return "CAST(0 AS BIGINT)"
    terms = []
    for block in _blocks(names):
        mask = f"{kind}_mask_{block}"
        if window is None:
            mask = f"({mask} | ({mask} >> 1) | ({mask} >> 2))"
        terms.append(f"BIT_COUNT({mask} & {_window_pattern(kind, names, block, window or 0)})")
    return f"CAST({' + '.join(terms)} AS BIGINT)"


def _largest(kind: str, names: list[str], window: int | None) -> str:
    """The largest value among the categories of ``kind`` present (with a row) in
    ``window``; NULL when none is."""
    present = [
        f"CASE WHEN {_present(kind, i, window)} THEN {_value(kind, i, window)} END"
        for i in range(len(names))
    ]
    return present[0] if len(present) == 1 else f"GREATEST({', '.join(present)})"


def _first_with(kind: str, names: list[str], window: int | None, largest: str) -> str:
    """The first name (in ``names`` order) among the categories present in ``window`` whose
    value equals the column ``largest``; ``''`` when none is present. Values are exact
    decimal sums, so equal totals tie exactly and the tie goes to the first name."""
    if not names:
        return "''"
    whens = " ".join(
        f"WHEN {_present(kind, i, window)} "
        f"AND {_value(kind, i, window)} = {largest} THEN {literal(name)}"
        for i, name in enumerate(names)
    )
    return f"CASE {whens} ELSE '' END"


def _share_columns(kind: str, names: list[str]) -> list[tuple[str, str]]:
    return [
        (
            f"CASE WHEN total_value_f <> 0 THEN CAST({_value(kind, i, None)} AS DOUBLE)"
            " / total_value_f ELSE 0.0 END",
            f"share_{kind}_{name}",
        )
        for i, name in enumerate(names)
    ]


def _client_columns(master_columns: list[str], taken: set[str]) -> list[tuple[str, str]]:
    """The client master's output columns: the standard ones typed (NULL when the master
    lacks them; unreadable dates and numbers become NULL), then the others as they are,
    except those named like a column in ``taken``."""
    out = []
    for name, kind in CLIENT_COLUMNS.items():
        if name not in master_columns:
            out.append((f"CAST(NULL AS {kind})", name))
        elif kind == "VARCHAR":
            out.append((f"CAST(m.{identifier(name)} AS VARCHAR)", name))
        else:
            out.append((f"TRY_CAST(m.{identifier(name)} AS {kind})", name))
    taken = taken | {"customer_id", *CLIENT_COLUMNS}
    return out + [(f"m.{identifier(c)}", c) for c in master_columns if c not in taken]


def _select(columns: list[tuple[str, str]]) -> str:
    """``expression AS name`` for each ``(expression, name)``, one per line."""
    return ",\n  ".join(
        expression if expression == name else f"{expression} AS {identifier(name)}"
        for expression, name in columns
    )


def customer_table_query(
    as_of: dt.date,
    *,
    unit_days: float,
    trend_window_days: int,
    categories: dict[str, list[str]] | None = None,
    client_columns: list[str] | None = None,
    money: str = MONEY,
) -> str:
    """The customer table: one row per customer with a transaction on or before ``as_of``,
    ordered by ``customer_id``: one sort and one aggregation over the rows, then the
    client-master join.

    Each customer's rows are ordered by date and every row gets ``gap = date - date of the
    previous row`` (NULL on the customer's first row) and ``day_rank`` (its date's rank
    among the customer's dates, ties sharing it: 1 on the first day). A row *starts a
    day* when ``gap`` is NULL or > 0: exactly one row per distinct (customer, date) does,
    whatever the order of same-day rows, and its ``gap`` is the gap between consecutive
    distinct days (same-day rows have gap 0 and add 0 to the sums). So ``n_days`` = rows
    that start a day, ``frequency = n_days - 1`` (BTYD: same-day rows count once, the
    first purchase is not a repeat), and there are ``n_days - 1`` gaps summing to
    ``last_date - first_date`` (they telescope); only the sum of squared gaps needs the
    rows. ``repeat_value`` = value of the rows with ``day_rank > 1``. With the window
    ``W = trend_window_days``, *recent* is ``(as_of - W, as_of]`` and *prior* is
    ``(as_of - 2W, as_of - W]``; ``recent_n_days`` = rows in the window that start a day.

    Each row carries its product and its channel category as one bit each, placed by the
    row's window (:func:`_bit`; 0 older, 1 prior, 2 recent); the same aggregation sums
    each category's value (overall, and per window for channels) and ORs the bits into
    masks of the (category, window) pairs that have rows. From them:
    ``share_<kind>_<name>`` (value / total value, 0 when the total is 0), ``n_products``
    (categories with a row, a bit count of the masks; also per window) and
    ``main_channel`` (largest value among the channels with a row; also per window).

    The query is built from one fragment per common table expression: ``tx`` (the rows
    up to ``as_of`` with their window and category bits), ``windowed`` (gap and day
    rank), ``ordered`` (amounts as ``money``, per-window bits), ``per_customer`` (the one
    aggregation), ``measures`` (the sums as doubles, the channel maxima) and ``features``.

    Parameters
    ----------
    as_of : datetime.date
        The scoring date: rows dated after it are left out.
    unit_days : float
        Days per time unit of ``recency`` and ``T``.
    trend_window_days : int
        ``W``, the length of the recent and prior windows.
    categories : dict of str to list of str, optional
        ``product`` / ``channel`` -> their category names (from :func:`categories_query`,
        each kind's names sorted).
    client_columns : list of str, optional
        The columns of the relation :data:`CLIENTS`, left-joined on ``customer_id``
        (``None``: no client master).
    money : str
        The decimal type rows' amounts are cast to (:func:`money_type`).

    Returns
    -------
    str
        The query, in the DuckDB dialect.
    """
    categories = {kind: list(names) for kind, names in (categories or {}).items() if names}
    channels = categories.get("channel", [])
    features = _feature_columns(as_of, float(unit_days), categories)
    carried = "".join(
        f", {kind}_bits_{block}" for kind, names in categories.items() for block in _blocks(names)
    )
    query = (
        "WITH "
        + _rows_cte(as_of, trend_window_days, categories)
        + f""",
windowed AS (
  SELECT
    customer_id, date, amount, win{carried},
    DATEDIFF('day', LAG(date) OVER (PARTITION BY customer_id ORDER BY date), date) AS gap,
    RANK() OVER (PARTITION BY customer_id ORDER BY date) AS day_rank
  FROM tx
),
ordered AS (
  SELECT
    customer_id, date, gap, day_rank{carried},
    CAST(amount AS {money}) AS amount,
    win{_window_bits(categories)}
  FROM windowed
),
"""
        + _per_customer_cte(categories)
        + ",\n"
        + _measures_cte(channels)
        + f""",
features AS (
  SELECT
  {_select(features)}
  FROM measures
)"""
    )
    if client_columns is None:
        return query + "\nSELECT * FROM features\nORDER BY customer_id"
    return query + _client_join(client_columns, {name for _, name in features})


#: the main channel overall and per window: output name prefix -> window
_MAIN_WINDOWS = {"main": None, "recent_main": 2, "prior_main": 1}
#: SQL: the row starts a new day of the customer
_NEW_DAY = "(gap IS NULL OR gap > 0)"


def _rows_cte(as_of: dt.date, trend_window_days: int, categories: dict[str, list[str]]) -> str:
    """``tx``: the rows up to ``as_of`` with their window (2 recent, 1 prior, 0 older) and
    category bits."""
    recent_start = date_literal(as_of - dt.timedelta(days=trend_window_days))
    prior_start = date_literal(as_of - dt.timedelta(days=2 * trend_window_days))
    bits = "".join(f",\n    {_category_bits(kind, names)}" for kind, names in categories.items())
    return f"""tx AS (
  SELECT
    CAST(customer_id AS VARCHAR) AS customer_id,
    CAST(date AS DATE) AS date,
    amount,
    CASE WHEN CAST(date AS DATE) > {recent_start} THEN 2
      WHEN CAST(date AS DATE) > {prior_start} THEN 1 ELSE 0 END AS win{bits}
  FROM {SOURCE}
  WHERE CAST(date AS DATE) <= {date_literal(as_of)}
)"""


def _per_customer_cte(categories: dict[str, list[str]]) -> str:
    """``per_customer``: the one aggregation of the ordered rows by customer."""
    return f"""per_customer AS (
  SELECT
    customer_id,
    MIN(date) AS first_date,
    MAX(date) AS last_date,
    COUNT(*) AS n_transactions,
    COUNT(CASE WHEN {_NEW_DAY} THEN 1 END) AS n_days,
    SUM(amount) AS total_value,
    SUM(CASE WHEN day_rank > 1 THEN amount ELSE 0 END) AS repeat_value,
    SUM(gap * gap) AS gap_square_sum,
    SUM(CASE WHEN win = 2 THEN amount ELSE 0 END) AS recent_value,
    COUNT(CASE WHEN win = 2 AND {_NEW_DAY} THEN 1 END) AS recent_n_days,
    SUM(CASE WHEN win = 1 THEN amount ELSE 0 END) AS prior_value,
    COUNT(CASE WHEN win = 1 AND {_NEW_DAY} THEN 1 END) AS prior_n_days\
{_category_aggregates(categories)}
  FROM ordered
  GROUP BY customer_id
)"""


def _measures_cte(channels: list[str]) -> str:
    """``measures``: the aggregates as doubles, the gap count and sum, and the largest
    channel value overall and per window."""
    maxima = "".join(
        f",\n    {_largest('channel', channels, window)} AS {name}_largest"
        for name, window in _MAIN_WINDOWS.items()
        if channels
    )
    return f"""measures AS (
  SELECT
    *,
    CAST(total_value AS DOUBLE) AS total_value_f,
    CAST(recent_value AS DOUBLE) AS recent_value_f,
    CAST(prior_value AS DOUBLE) AS prior_value_f,
    n_days - 1 AS n_gaps,
    DATEDIFF('day', first_date, last_date) AS gap_sum{maxima}
  FROM per_customer
)"""


def _feature_columns(
    as_of: dt.date, unit: float, categories: dict[str, list[str]]
) -> list[tuple[str, str]]:
    """The ``features`` select list: (SQL expression over ``measures``, output name)."""
    products = categories.get("product", [])
    channels = categories.get("channel", [])
    as_of_sql = date_literal(as_of)
    main = {
        name: _first_with("channel", channels, window, f"{name}_largest")
        for name, window in _MAIN_WINDOWS.items()
    }
    return [
        ("customer_id", "customer_id"),
        ("first_date", "first_date"),
        ("last_date", "last_date"),
        ("CAST(n_transactions AS BIGINT)", "n_transactions"),
        ("CAST(n_days AS BIGINT)", "n_days"),
        ("CAST(n_days - 1 AS BIGINT)", "frequency"),
        (f"CAST(DATEDIFF('day', first_date, last_date) AS DOUBLE) / {unit}", "recency"),
        (f"CAST(DATEDIFF('day', first_date, {as_of_sql}) AS DOUBLE) / {unit}", "T"),
        ("total_value_f", "total_value"),
        ("total_value_f / n_days", "mean_value"),
        (
            "CASE WHEN n_days > 1 THEN CAST(repeat_value AS DOUBLE) / (n_days - 1) ELSE 0.0 END",
            "monetary_value",
        ),
        ("CASE WHEN n_gaps >= 1 THEN CAST(gap_sum AS DOUBLE) / n_gaps END", "gap_mean_days"),
        (
            "CASE WHEN n_gaps >= 2 THEN SQRT(CAST(n_gaps * gap_square_sum - gap_sum * gap_sum"
            " AS DOUBLE) / (n_gaps * (n_gaps - 1))) END",
            "gap_std_days",
        ),
        (f"CAST(DATEDIFF('day', last_date, {as_of_sql}) AS BIGINT)", "days_since_last"),
        (f"CAST(DATEDIFF('day', first_date, {as_of_sql}) AS BIGINT)", "tenure_days"),
        ("recent_value_f", "recent_value"),
        ("prior_value_f", "prior_value"),
        ("CAST(recent_n_days AS BIGINT)", "recent_n_days"),
        ("CAST(prior_n_days AS BIGINT)", "prior_n_days"),
        (
            "CASE WHEN ABS(recent_value_f) + ABS(prior_value_f) > 0 THEN (recent_value_f - "
            "prior_value_f) / (ABS(recent_value_f) + ABS(prior_value_f)) ELSE 0.0 END",
            "value_trend",
        ),
        (_count_present("product", products, None), "n_products"),
        (_count_present("product", products, 2), "recent_n_products"),
        (_count_present("product", products, 1), "prior_n_products"),
        *_share_columns("product", products),
        *((expression, f"{name}_channel") for name, expression in main.items()),
        *_share_columns("channel", channels),
    ]


def _client_join(client_columns: list[str], taken: set[str]) -> str:
    """The final select: the features left-joined to the client master's columns (those
    not already a feature name, :func:`_client_columns`)."""
    joined = _select(_client_columns(client_columns, taken))
    return f"""
SELECT
  features.*,
  {joined}
FROM features
LEFT JOIN {CLIENTS} AS m ON CAST(m.customer_id AS VARCHAR) = features.customer_id
ORDER BY features.customer_id"""


def duplicate_clients_query() -> str:
    """Client ids with more than one master row: the id, and the number of extra rows
    over all such ids (``extra_rows``), first id in sort order."""
    return f"""SELECT
  customer_id,
  SUM(n - 1) OVER () AS extra_rows
FROM (
  SELECT CAST(customer_id AS VARCHAR) AS customer_id, COUNT(*) AS n
  FROM {CLIENTS}
  GROUP BY CAST(customer_id AS VARCHAR)
  HAVING COUNT(*) > 1
) AS duplicated
ORDER BY customer_id
LIMIT 1"""


def holdout_query(cutoff: dt.date, end: dt.date) -> str:
    """Per customer: distinct transaction days and value in ``(cutoff, end]``."""
    return f"""WITH {clean_rows(end, start=cutoff)}
SELECT
  customer_id,
  CAST(COUNT(DISTINCT date) AS BIGINT) AS holdout_transactions,
  CAST(SUM(amount) AS DOUBLE) AS holdout_value
FROM tx
GROUP BY customer_id
ORDER BY customer_id"""


def all_queries(as_of: dt.date, *, unit_days: float = 7, trend_window_days: int = 90) -> dict:
    """Every query for one ``as_of`` (for transpiling and inspection), by name."""
    categories = {"product": ["存款", "贷款"], "channel": ["app", "it's"]}
    return {
        "date_range": date_range_query(),
        "categories": categories_query(("product", "channel"), as_of),
        "customers": customer_table_query(
            as_of, unit_days=unit_days, trend_window_days=trend_window_days
        ),
        "customers_categories_clients": customer_table_query(
            as_of,
            unit_days=unit_days,
            trend_window_days=trend_window_days,
            categories=categories,
            client_columns=["customer_id", "region", "open_date", "vip"],
        ),
        "one_channel": customer_table_query(
            as_of,
            unit_days=unit_days,
            trend_window_days=trend_window_days,
            categories={"channel": ["app"]},
        ),
        "small_money": customer_table_query(
            as_of, unit_days=unit_days, trend_window_days=trend_window_days, money=SMALL_MONEY
        ),
        "amount_size": amount_size_query(as_of),
        "duplicate_clients": duplicate_clients_query(),
        "holdout": holdout_query(as_of, as_of + dt.timedelta(days=365)),
    }
