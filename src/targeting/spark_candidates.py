"""The targets stage's per-client step on Spark (``engine: spark``).

What runs on Spark: reading the list inputs of every client from customers.parquet with
ltv.parquet, churn.parquet, segments.parquet and products.parquet beside it (joined on the
row position; a row whose customer_id differs stops the run, as with DuckDB) and the
per-client eligibility test (:func:`targeting.read.eligibility`: does some configured
campaign's pool take the client, with the days since the last contact added), so only the
candidates come back to the driver, in customers.parquet's order.

What stays on the driver, over small tables, because it needs a global order or the whole
list:

- the population (id, branch, contribution of every client; three narrow columns): the top
  share of each branch by contribution is a ranking over all of a branch's clients, and
  the client counts are over everyone;
- the scoring of the candidates (:func:`targeting.campaigns.candidates`): without a balance
  snapshot the retention score falls back to the client's percentile rank of value at
  stake within the campaign's pool, an order over the whole pool;
- the ranking, the one-campaign-per-client rule in priority order, the caps per manager,
  per branch, capacity and budget (:func:`targeting.allocation.allocate`): each is a cut
  of the ranked list;
- the control draw (a share of each branch's part of the finished list) and the reasons
  and wording, written only for the clients that end up on a list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from kequn.log import get_logger, progress
from kequn.spark_chunks import join_by_row, map_chunks
from targeting.read import KEEP, candidate_sources, concat_chunks, eligibility

log = get_logger("targets")


def read_candidates_spark(
    settings: dict,
    context: dict,
    population: pd.DataFrame,
    chunk_rows: int,
    params: dict[str, Any],
    paths: list[Path],
    *,
    language: str = "en",
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """:func:`targeting.read.read_candidates`, with the reading and the eligibility test run
    on Spark (:func:`kequn.spark_chunks.map_chunks`).

    Parameters
    ----------
    settings, context, population, chunk_rows, language, prepare
        As for :func:`targeting.read.read_candidates`.
    params : dict
        params.yaml (the ``spark`` session settings).
    paths : list of Path
        The per-customer files, customers.parquet first.

    Returns
    -------
    pd.DataFrame
        The same rows, columns and types as :func:`targeting.read.read_candidates`.
    """
    sources = candidate_sources(paths, language)
    keep = eligibility(settings, context, population, prepare)
    first, *others = sources
    kept = list(
        progress(
            map_chunks(
                first,
                keep,
                params=params,
                columns=sources[first],
                chunk_rows=chunk_rows,
                near=Path(first).parent,
                frame=join_by_row([(path, sources[path]) for path in others]) if others else None,
                keep=KEEP,
            ),
            log,
            "targets candidates from Spark",
            size=len,
        )
    )
    if not kept:  # nobody is eligible: the DuckDB path's empty frame
        empty = keep(concat_chunks([], sources))
        kept = [empty[empty.pop(KEEP).to_numpy(dtype=bool)]]
    # Spark hands pandas plain object strings; a file written from a ``string`` column
    # reads back as ``string`` on the DuckDB path (its pandas metadata): the same here
    typed = concat_chunks([], sources).dtypes
    strings = {c: t for c, t in typed.items() if isinstance(t, pd.StringDtype)}
    return concat_chunks([chunk.astype(strings) for chunk in kept], sources)
