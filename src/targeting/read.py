"""The targets stage's inputs, read chunk by chunk: only the columns the lists use, and only
the rows some campaign could list.

customers.parquet, ltv.parquet, churn.parquet and segments.parquet hold the same customers
in the same order (each later stage writes its file chunk by chunk from customers.parquet),
so they are read side by side, ``scale.chunk_customers`` rows at a time
(:func:`kequn.chunks.iter_exact_chunks`), each column from the first of the four files that
has it. Two passes:

1. the **population**: every client's :data:`POPULATION_COLUMNS` (id, branch, contribution),
   for the client counts and the top share of each branch (a ranking over all clients);
2. the **candidates**: per chunk, the :data:`LIST_INPUTS` of the rows that at least one
   configured campaign takes (:func:`targeting.lists.campaign_pool`, the same test the
   lists apply), so a campaign's pool over the kept rows is its pool over everyone.

Memory: one chunk of the four files, plus the candidates and the population's narrow
columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kequn import catalogue
from kequn.chunks import count_rows, iter_exact_chunks
from kequn.errors import UserError
from kequn.log import get_logger, progress
from targeting.allocation import BRANCH_COLUMNS, with_branches
from targeting.campaigns import CAMPAIGNS
from targeting.lists import branch_tops, campaign_pool

log = get_logger("targets")

#: the per-customer files, in the order a column is looked for (the first that has it)
SOURCES = (
    catalogue.CUSTOMERS,
    catalogue.LTV,
    catalogue.CHURN,
    catalogue.SEGMENTS,
    catalogue.PRODUCTS,
)
#: what the campaigns, the ranking and the list columns read (those absent from every
#: file are left out, as the optional ``n_products`` and branch columns may be);
#: ``reasons_<language>`` is added for the report language
LIST_INPUTS = (
    "customer_id",
    "tenure_days",
    "total_value",
    "n_products",
    "days_since_last",
    *BRANCH_COLUMNS,
    "clv",
    "margin",
    "probability_alive",
    "churn_probability",
    "warning_level",
    "value_tier",
    "rfm_segment",
    # the balance and complaint signals (features.signals, churn.signal_warnings)
    "aum_latest",
    "aum_change_1m",
    "aum_change_3m",
    "complaints_90d",
    "unresolved_complaints",
    "outflow_warning",
    "complaint_warning",
    # the next best product (products stage)
    "product",
    "product_probability",
    "product_value",
)
#: column prefixes read too: the product-line shares the growth reasons name
LIST_PREFIXES = ("share_product_",)
#: every client's columns kept for the counts and the top share per branch
POPULATION_COLUMNS = ("customer_id", "branch", "total_value")


def column_sources(wanted: list[str], paths: list[Path]) -> dict[Path, list[str]]:
    """Which file each wanted column is read from: the first of ``paths`` that has it.

    Parameters
    ----------
    wanted : list of str
        Column names; those in no file are left out.
    paths : list of Path
        The per-customer files, the first being customers.parquet.

    Returns
    -------
    dict of Path to list of str
        path -> its columns, in ``wanted`` order; the first path always lists
        ``customer_id``, the others only when they supply a column.
    """
    names = {path: set(pq.read_schema(path).names) for path in paths}
    sources: dict[Path, list[str]] = {paths[0]: ["customer_id"]}
    for column in wanted:
        if column == "customer_id":
            continue
        path = next((p for p in paths if column in names[p]), None)
        if path is not None:
            sources.setdefault(path, []).append(column)
    return sources


def side_by_side(sources: dict[Path, list[str]], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of the first file's columns with the other files' columns beside them.

    Parameters
    ----------
    sources : dict of Path to list of str
        From :func:`column_sources`.
    chunk_rows : int
        Rows per chunk (``scale.chunk_customers``).

    Returns
    -------
    Iterator[pd.DataFrame]
        One frame per chunk. A file whose ``customer_id`` differs from the first file's
        row for row raises a :class:`UserError` naming it.
    """
    return _at_least_one(_paired(sources, chunk_rows), sources)


def _paired(sources: dict[Path, list[str]], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The chunks of :func:`side_by_side`, none when the first file has no rows."""
    first, *others = sources
    readers = {
        path: iter_exact_chunks(path, chunk_rows, ["customer_id", *sources[path]])
        for path in others
    }
    start = 0
    for chunk in iter_exact_chunks(first, chunk_rows, sources[first]):
        ids = chunk["customer_id"].astype(str).to_numpy()
        for path in others:
            part = next(readers[path], None)
            if (
                part is None
                or len(part) != len(chunk)
                or (part["customer_id"].astype(str).to_numpy() != ids).any()
            ):
                raise _misaligned(path, first, f"rows {start + 1}-{start + len(chunk)}")
            for column in sources[path]:
                chunk[column] = part[column].set_axis(chunk.index)
        start += len(chunk)
        yield chunk
    for path in others:
        if next(readers[path], None) is not None:
            raise _misaligned(path, first, f"more rows than its {start}")


def _misaligned(path: Path, first: Path, where: str) -> UserError:
    return UserError(
        f"{path}: customer_id does not match {first} row for row ({where}); rerun the "
        "stage that writes it"
    )


def read_population(chunk_rows: int, paths: list[Path] | None = None) -> pd.DataFrame:
    """Every client's :data:`POPULATION_COLUMNS` (those present), read chunk by chunk.

    Parameters
    ----------
    chunk_rows : int
        Rows per chunk.
    paths : list of Path, optional
        The per-customer files (default :data:`SOURCES`).

    Returns
    -------
    pd.DataFrame
        One row per client, in file order.
    """
    paths = paths or [dataset.path for dataset in SOURCES]
    sources = column_sources(list(POPULATION_COLUMNS), paths)
    chunks = _counted(side_by_side(sources, chunk_rows), paths[0], "targets population read")
    return _concat(list(chunks), sources)


def _counted(chunks: Iterator[pd.DataFrame], first: Path, what: str) -> Iterator[pd.DataFrame]:
    """``chunks`` with :func:`kequn.log.progress` reports (rows of ``first`` done, ETA)."""
    return progress(chunks, log, what, total=count_rows(first), size=len)


def read_candidates(
    settings: dict,
    context: dict,
    population: pd.DataFrame,
    chunk_rows: int,
    *,
    language: str = "en",
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    paths: list[Path] | None = None,
) -> pd.DataFrame:
    """The :data:`LIST_INPUTS` of the clients at least one configured campaign takes.

    Parameters
    ----------
    settings : dict
        The ``targeting`` settings (its ``campaigns``).
    context : dict
        As for :func:`targeting.campaigns.candidates`.
    population : pd.DataFrame
        From :func:`read_population`: the top share per branch is ranked over it.
    chunk_rows : int
        Rows per chunk.
    language : str
        The report language: ``reasons_<language>`` is read.
    prepare : callable, optional
        Adds per-chunk columns the campaigns test (``days_since_contact``).
    paths : list of Path, optional
        The per-customer files (default :data:`SOURCES`).

    Returns
    -------
    pd.DataFrame
        The kept rows, in file order, index 0..n-1.
    """
    paths = paths or [dataset.path for dataset in SOURCES]
    sources = candidate_sources(paths, language)
    keep = eligibility(settings, context, population, prepare)
    kept = []
    chunks = side_by_side(sources, chunk_rows)
    for chunk in _counted(chunks, paths[0], "targets eligibility pass"):
        chunk = keep(chunk)
        kept.append(chunk[chunk.pop(KEEP).to_numpy(dtype=bool)])
    return _concat(kept, sources)


#: the column :func:`eligibility` adds: whether some configured campaign takes the row
KEEP = "_listed"


def candidate_sources(paths: list[Path], language: str) -> dict[Path, list[str]]:
    """:func:`column_sources` of the :data:`LIST_INPUTS`, the :data:`LIST_PREFIXES` columns
    and ``reasons_<language>``; no ``margin`` in any file -> :class:`UserError`."""
    prefixed = sorted(
        {c for path in paths for c in pq.read_schema(path).names if c.startswith(LIST_PREFIXES)}
    )
    sources = column_sources([*LIST_INPUTS, *prefixed, f"reasons_{language}"], paths)
    if not any("margin" in columns for columns in sources.values()):
        raise UserError(f"{catalogue.LTV.path}: no margin column; rerun the ltv stage")
    return sources


def eligibility(
    settings: dict,
    context: dict,
    population: pd.DataFrame,
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The per-chunk eligibility test of :func:`read_candidates`, as a pure chunk function.

    Parameters
    ----------
    settings, context, population, prepare
        As for :func:`read_candidates`; the top share per branch is ranked over
        ``population`` once, here, and bound into the function.

    Returns
    -------
    callable
        A chunk of the candidate columns -> the chunk (``prepare``'s columns added) with a
        boolean :data:`KEEP` column: true where at least one configured campaign's pool
        (:func:`targeting.lists.campaign_pool`) takes the row. It reads nothing but the
        chunk, so it runs on any cut of the rows (Spark's batches too).
    """
    configured = {
        name: values or {}
        for name, values in (settings.get("campaigns") or {}).items()
        if name in CAMPAIGNS  # an unknown one is refused by build_target_lists
    }
    tops = branch_tops(with_branches(population)[0], configured)

    def keep(chunk: pd.DataFrame) -> pd.DataFrame:
        if prepare is not None:
            chunk = prepare(chunk)
        taken = np.zeros(len(chunk), dtype=bool)
        for campaign, values in configured.items():
            pool = campaign_pool(chunk, campaign, values, context, tops.get(campaign))
            taken |= chunk.index.isin(pool.index)
        return chunk.assign(**{KEEP: taken})

    return keep


def _at_least_one(
    chunks: Iterator[pd.DataFrame], sources: dict[Path, list[str]]
) -> Iterator[pd.DataFrame]:
    """``chunks``, or one chunk with every source column and no rows when there is none."""
    empty = True
    for chunk in chunks:
        empty = False
        yield chunk
    if empty:
        yield pd.concat(
            [
                pq.read_schema(path).empty_table().to_pandas()[cols]
                for path, cols in sources.items()
            ],
            axis=1,
        ).iloc[:0]


def empty_chunk(sources: dict[Path, list[str]]) -> pd.DataFrame:
    """No rows, every source column with the type of a read of its file."""
    return next(_at_least_one(iter(()), sources))


def concat_chunks(chunks: list[pd.DataFrame], sources: dict[Path, list[str]]) -> pd.DataFrame:
    """:func:`_concat` of ``chunks`` (an empty list: :func:`empty_chunk`)."""
    return _concat(chunks or [empty_chunk(sources)], sources)


def _concat(chunks: list[pd.DataFrame], sources: dict[Path, list[str]]) -> pd.DataFrame:
    """The chunks (at least one) as one frame, index 0..n-1, with the dtypes a read of the
    whole files gives: an integer (boolean) column with a null anywhere in its file is
    float (object) even when the chunks kept have none."""
    frame = pd.concat(chunks, ignore_index=True)
    for path, columns in sources.items():
        schema = pq.read_schema(path)
        for column in columns:
            kind = schema.field(column).type
            if not (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
                continue
            if _has_null(path, column):
                frame[column] = frame[column].astype(
                    "float64" if pa.types.is_integer(kind) else object
                )
    return frame


def _has_null(path: Path, column: str) -> bool:
    """Whether ``column`` of the Parquet file holds a null: from the row-group statistics,
    or by reading that one column where a row group has none."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.names.index(column)
    stats = [meta.row_group(i).column(index).statistics for i in range(meta.num_row_groups)]
    if all(s is not None and s.has_null_count for s in stats):
        return any(s.null_count for s in stats)
    return pq.read_table(path, columns=[column]).column(column).null_count > 0


def read_scores(
    path: Path, ids: pd.Series, chunk_rows: int
) -> tuple[str | None, pd.DataFrame | None]:
    """The uplift model's scores of ``ids``, read chunk by chunk.

    Parameters
    ----------
    path : Path
        uplift.parquet (``customer_id``, ``uplift``, ``campaign_type``).
    ids : pd.Series
        The customers whose scores are kept.
    chunk_rows : int
        Rows per chunk.

    Returns
    -------
    (str or None, pd.DataFrame or None)
        The campaign the scores are for (that of the file's first row) and ``customer_id,
        uplift`` of ``ids``; (None, None) when the file has no rows.
    """
    wanted = pd.Index(ids.astype(str))
    campaign, frames = None, []
    for chunk in iter_exact_chunks(path, chunk_rows, ["customer_id", "uplift", "campaign_type"]):
        if campaign is None and len(chunk):
            campaign = str(chunk["campaign_type"].iloc[0])
        keep = wanted.get_indexer(chunk["customer_id"].astype(str)) >= 0
        frames.append(chunk.loc[keep, ["customer_id", "uplift"]])
    if campaign is None:
        return None, None
    return campaign, pd.concat(frames, ignore_index=True)
