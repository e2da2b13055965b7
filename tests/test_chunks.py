"""kequn.chunks: chunked Parquet reading and writing, deterministic customer samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kequn.chunks import (
    ChunkedParquetWriter,
    iter_chunks,
    iter_exact_chunks,
    read_scale,
    sample_customer_ids,
    transactions_of,
)
from kequn.errors import UserError


@pytest.fixture
def customers(tmp_path):
    frame = pd.DataFrame(
        {"customer_id": [f"c{i:05d}" for i in range(10_000)], "x": np.arange(10_000.0)}
    )
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path, index=False, row_group_size=3000)
    return path, frame


def test_chunks_cover_the_file_in_order_and_write_back_identically(customers, tmp_path):
    path, frame = customers
    chunks = list(iter_chunks(path, 4096, columns=["customer_id"]))
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
    assert list(chunks[0].columns) == ["customer_id"]
    target = tmp_path / "out.parquet"
    with ChunkedParquetWriter(target) as writer:
        for chunk in iter_chunks(path, 999):
            writer.write(chunk)
    assert writer.rows == 10_000
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame)


def test_a_failed_chunked_write_leaves_no_file(customers, tmp_path):
    path, _ = customers
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), ChunkedParquetWriter(target) as writer:
        for chunk in iter_chunks(path, 1000):
            writer.write(chunk)
            raise RuntimeError("scoring failed half-way")
    assert list(tmp_path.glob("out.parquet*")) == [] and list(tmp_path.glob(".out*")) == []


def test_no_chunk_writes_the_empty_schema(tmp_path):
    target = tmp_path / "out.parquet"
    with ChunkedParquetWriter(
        target, empty=pd.DataFrame({"customer_id": pd.Series([], dtype=str)})
    ):
        pass
    assert list(pd.read_parquet(target).columns) == ["customer_id"]


def test_sample_is_deterministic_seeded_and_about_the_asked_size(customers):
    path, frame = customers
    assert sample_customer_ids(path, 10_000, seed=1) is None  # everyone fits
    first = sample_customer_ids(path, 2_000, seed=1)
    again = sample_customer_ids(path, 2_000, seed=1)
    other = sample_customer_ids(path, 2_000, seed=2)
    pd.testing.assert_series_equal(first, again)
    # binomial(10,000, 0.2): sd 40, so 5 sd either side
    assert 1_800 < len(first) < 2_200 and 1_800 < len(other) < 2_200
    assert first.is_monotonic_increasing and first.isin(frame["customer_id"]).all()
    assert len(set(first) & set(other)) < 0.3 * len(first)  # another seed, other customers


def test_transactions_of_reads_only_the_chosen_customers(tmp_path):
    rng = np.random.default_rng(0)
    tx = pd.DataFrame(
        {"customer_id": rng.choice(["a", "b", "c", "d"], 500), "amount": rng.random(500)}
    )
    path = tmp_path / "tx.parquet"
    tx.to_parquet(path, index=False)
    chosen = transactions_of(path, pd.Series(["b", "d"]), columns=["customer_id", "amount"])
    expected = tx.loc[tx["customer_id"].isin(["b", "d"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(chosen.reset_index(drop=True), expected)
    assert len(transactions_of(path, None)) == 500


def test_scale_settings_are_validated():
    assert read_scale({}).chunk_customers == 1_000_000
    assert read_scale({"scale": {"chunk_customers": 5, "fit_customers": 0}}).fit_customers == 0
    with pytest.raises(UserError, match="scale.chunk_customers: 0 is out of range"):
        read_scale({"scale": {"chunk_customers": 0}})
    with pytest.raises(UserError, match="scale.chunks: unknown key"):
        read_scale({"scale": {"chunks": 5}})


def test_exact_chunks_have_the_asked_size_whatever_the_row_groups(customers, tmp_path):
    path, frame = customers  # row groups of 3000
    other = tmp_path / "other.parquet"
    frame.to_parquet(other, index=False, row_group_size=700)
    for rows in (7, 2500, 3001, 7000, 20_000):
        for source in (path, other):
            chunks = list(iter_exact_chunks(source, rows))
            sizes = [len(c) for c in chunks]
            assert sizes[:-1] == [rows] * (len(sizes) - 1) and 0 < sizes[-1] <= rows
            pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), frame)
    third = list(iter_exact_chunks(other, 2500, ["x"]))[3]
    assert list(third.columns) == ["x"] and third["x"].iloc[0] == 7500.0
