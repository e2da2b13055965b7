"""The pandas reference's last step: from its per-customer and long-form category tables
to the final customer table (pivots, main channel, client join).

The SQL engines compute the same table in SQL (:func:`features.sql.customer_table_query`);
this independent implementation is what the tests and the benchmark compare them with.
From one row per customer with the numeric features, and long-form per-customer product
and channel tables:

- ``share_<kind>_<category> = value(customer, category) / total_value(customer)``, one
  column per category in the data, sorted by name; 0 when ``total_value`` is 0;
- ``main_channel``: the channel with the largest value (compared at 6 decimals; ties: the
  first name in sort order), over all days and over the recent/prior windows; ``""``
  when there is none;
- ``n_products``, ``recent_n_products``, ``prior_n_products``: distinct product
  categories with at least one row overall / in the window;
- the client master, joined on ``customer_id`` (left join: customers without a master row
  keep nulls).

The long tables may hold their strings as Python objects or Arrow-backed
(``pd.ArrowDtype``); customer rows are matched by Arrow hashing (``index_in``), never by a
pandas merge or sort on the string ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kequn.errors import UserError

#: per-customer columns in output order, with their pandas dtype
CORE_COLUMNS: dict[str, str] = {
    "customer_id": "object",
    "first_date": "object",
    "last_date": "object",
    "n_transactions": "int64",
    "n_days": "int64",
    "frequency": "int64",
    "recency": "float64",
    "T": "float64",
    "total_value": "float64",
    "mean_value": "float64",
    "monetary_value": "float64",
    "gap_mean_days": "float64",
    "gap_std_days": "float64",
    "days_since_last": "int64",
    "tenure_days": "int64",
    "recent_value": "float64",
    "prior_value": "float64",
    "recent_n_days": "int64",
    "prior_n_days": "int64",
    "value_trend": "float64",
}

#: long-form category tables: columns and dtypes
CATEGORY_COLUMNS: dict[str, str] = {
    "customer_id": "object",
    "category": "object",
    "value": "float64",
    "recent_value": "float64",
    "recent_rows": "int64",
    "prior_value": "float64",
    "prior_rows": "int64",
}

#: client-master columns, always present when a client master is given, with their kind
CLIENT_COLUMNS: dict[str, str] = {
    "client_type": "string",
    "industry": "string",
    "region": "string",
    "open_date": "date",
    "asset_balance": "float",
    "close_date": "date",
}


def empty_categories() -> pd.DataFrame:
    """A long-form category table with no rows."""
    return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in CATEGORY_COLUMNS.items()})


def _with_dtypes(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    return frame[list(dtypes)].astype(dtypes)


def _with_numeric_dtypes(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """``frame`` with the numeric columns of ``dtypes`` cast (when they differ); string
    columns kept as they are (objects or Arrow-backed)."""
    cast = {
        name: kind
        for name, kind in dtypes.items()
        if kind != "object" and frame[name].dtype != np.dtype(kind)
    }
    return frame.astype(cast) if cast else frame


def _strings(values: pd.Series) -> pa.Array:
    """A string column (object or Arrow-backed) as one contiguous Arrow string array."""
    array = pa.array(values, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _positions(keys: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position of each key in ``value_set`` (-1 when absent), by Arrow hashing."""
    found = pc.index_in(keys, value_set=value_set)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)


def _as_dates(values: pd.Series) -> pd.Series:
    """Calendar dates as ``datetime.date`` objects (``None`` for missing)."""
    if values.dtype == object:
        try:
            if pa.types.is_date(pa.array(values, from_pandas=True).type):
                return values.where(values.notna(), None)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    if len(values) == 0:
        return pd.Series([], dtype="object", index=values.index)
    converted = pd.to_datetime(values, errors="coerce")
    return pd.Series(
        np.where(converted.isna(), None, converted.dt.date), index=values.index, dtype="object"
    )


class _Categories:
    """A long-form category table laid out as (customer row, category column) positions.

    ``row[i]`` is the position of long row ``i``'s customer in the customer table and
    ``column[i]`` the position of its category in ``names`` (sorted), so per-customer
    quantities become dense ``n_customers x n_categories`` matrices by scattering -- no
    sort or group-by on the string ids.
    """

    def __init__(self, n_customers: int, row: np.ndarray, long: pd.DataFrame) -> None:
        self.n_customers = n_customers
        self.row = row
        if (self.row < 0).any():
            raise ValueError("category rows for customers without customer features")
        self.column, names = pd.factorize(long["category"], sort=True)
        self.names = [str(name) for name in names]
        self.long = long

    def matrix(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((self.n_customers, len(self.names)), fill, dtype=np.float64)
        out[self.row, self.column] = values
        return out

    def count(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.row[mask], minlength=self.n_customers).astype(np.int64)

    def shares(self, total_value: np.ndarray, kind: str) -> Columns:
        """``share_<kind>_<category>``: category value / total value (0 when the total is 0)."""
        value = self.matrix(self.long["value"].to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total_value[:, None] != 0, value / total_value[:, None], 0.0)
        return {f"share_{kind}_{name}": ratio[:, k] for k, name in enumerate(self.names)}

    def main(self, value_column: str, rows_column: str | None) -> np.ndarray:
        """Per customer, the category with the largest value (rounded to 6 decimals so that
        float noise breaks no tie; ties go to the first name); ``""`` when none is present."""
        if not self.names:
            return np.full(self.n_customers, "", dtype=object)
        value = self.long[value_column].to_numpy().round(6)
        present = (
            np.ones(len(value), dtype=bool)
            if rows_column is None
            else self.long[rows_column].to_numpy() > 0
        )
        matrix = np.full((self.n_customers, len(self.names)), -np.inf)
        matrix[self.row[present], self.column[present]] = value[present]
        has_any = np.isfinite(matrix).any(axis=1)
        names = np.array([*self.names, ""], dtype=object)
        best = np.where(has_any, matrix.argmax(axis=1), len(self.names))
        return names[best]


Columns = dict[str, object]


def product_columns(customers: pd.DataFrame, products: pd.DataFrame, row: np.ndarray) -> Columns:
    """``n_products``, ``recent_n_products``, ``prior_n_products`` and the product shares,
    by name (``row``: each product row's customer position in ``customers``)."""
    table = _Categories(len(customers), row, products)
    return {
        "n_products": table.count(np.ones(len(products), dtype=bool)),
        "recent_n_products": table.count(products["recent_rows"].to_numpy() > 0),
        "prior_n_products": table.count(products["prior_rows"].to_numpy() > 0),
        **table.shares(customers["total_value"].to_numpy(), "product"),
    }


def channel_columns(customers: pd.DataFrame, channels: pd.DataFrame, row: np.ndarray) -> Columns:
    """``main_channel``, ``recent_main_channel``, ``prior_main_channel`` and channel shares."""
    table = _Categories(len(customers), row, channels)
    return {
        "main_channel": table.main("value", None),
        "recent_main_channel": table.main("recent_value", "recent_rows"),
        "prior_main_channel": table.main("prior_value", "prior_rows"),
        **table.shares(customers["total_value"].to_numpy(), "channel"),
    }


def _take(values: pd.Series, rows: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """``values`` at ``rows``; -1 gives the column's missing value (NaN, None, NaT, <NA>)."""
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        return values.array.take(rows, allow_fill=True)
    return pd.api.extensions.take(values.to_numpy(), rows, allow_fill=True)


def join_clients(clients: pd.DataFrame, ids: pa.Array, taken: set[str]) -> Columns:
    """The client master's columns for the customers ``ids`` (a left join), by name.

    The six standard columns are always there; master columns named in ``taken`` (already
    in the customer table) are left out. Each customer's master row is found by Arrow
    hashing (``index_in``) and the master's columns are taken at those positions (missing:
    NaN / None, as a left merge gives).
    """
    if "customer_id" not in clients.columns:
        raise UserError("clients: missing column 'customer_id'")
    master = clients.copy()
    master["customer_id"] = master["customer_id"].astype(str).astype("object")
    master_ids = _strings(master["customer_id"])
    # one hash of the master's ids: where each id first occurs, and each customer's row
    found = _positions(pa.chunked_array([master_ids, ids], type=pa.string()), master_ids)
    first, rows = found[: len(master_ids)], found[len(master_ids) :]
    if (first != np.arange(len(master_ids))).any():
        duplicated = master["customer_id"].duplicated()
        first = master.loc[duplicated, "customer_id"].iloc[0]
        raise UserError(
            f"clients: customer_id {first!r} appears more than once "
            f"({int(duplicated.sum())} duplicate rows); the client master needs one row per client"
        )
    for name, kind in CLIENT_COLUMNS.items():
        if name not in master.columns:
            master[name] = None
        if kind == "date":
            master[name] = _as_dates(master[name])
        elif kind == "float":
            master[name] = pd.to_numeric(master[name], errors="coerce").astype(np.float64)
        else:
            master[name] = master[name].astype("object").where(master[name].notna(), None)
    extra = [c for c in master.columns if c not in CLIENT_COLUMNS and c != "customer_id"]
    names = [c for c in [*CLIENT_COLUMNS, *extra] if c not in taken]
    joined = {name: _take(master[name], rows) for name in names}
    missing = rows < 0
    for name, kind in CLIENT_COLUMNS.items():
        if kind != "float" and name in joined:  # the master's are None already
            values = np.asarray(joined[name], dtype=object)
            values[missing] = None
            joined[name] = values
    return joined


def assemble(
    customers: pd.DataFrame,
    products: pd.DataFrame | None,
    channels: pd.DataFrame | None,
    clients: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The final customer table from the per-customer and long-form category tables.

    ``products`` / ``channels`` are ``None`` when the transactions have no such column
    (then ``n_products`` columns are 0 and ``main_channel`` columns are ``""``).
    """
    core = customers[list(CORE_COLUMNS)]
    if not core["customer_id"].is_monotonic_increasing:
        core = core.sort_values("customer_id", kind="stable")
    columns: Columns = {
        name: _as_dates(core[name]).to_numpy()
        if name in ("first_date", "last_date")
        else core[name].to_numpy(dtype=kind)
        for name, kind in CORE_COLUMNS.items()
    }
    core = pd.DataFrame(
        {name: columns[name] for name in ("customer_id", "total_value")}, copy=False
    )
    ids = _strings(core["customer_id"])
    products = (
        empty_categories() if products is None else _with_numeric_dtypes(products, CATEGORY_COLUMNS)
    )
    channels = (
        empty_categories() if channels is None else _with_numeric_dtypes(channels, CATEGORY_COLUMNS)
    )
    # one hash of the customer ids for both long tables
    keys = [_strings(products["customer_id"]), _strings(channels["customer_id"])]
    rows = _positions(pa.chunked_array(keys, type=pa.string()), ids)
    columns.update(product_columns(core, products, rows[: len(products)]))
    columns.update(channel_columns(core, channels, rows[len(products) :]))
    if clients is not None:
        columns.update(join_clients(clients, ids, set(columns)))
    return pd.DataFrame(columns)
