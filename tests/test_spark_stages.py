"""The model stages' scoring on Spark (``engine: spark``) against their DuckDB path.

One local Spark session for the module. The DuckDB outputs come from the shared pipeline
run on the bundled sample (conftest ``sample_run``); a copy of that folder is switched to
``engine: spark`` and the ltv then the churn stage rerun in-process (so they reuse this
module's session). Every output must equal the DuckDB one: same ids in the same order,
numeric columns within 1e-9 relative, every other column equal, same Arrow types.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kequn.config import load_params
from kequn.errors import UserError
from kequn.spark_chunks import ROW, join_by_row, map_chunks, read_back


def assert_same_table(theirs: Path, ours: Path) -> None:
    a, b = pq.read_table(theirs), pq.read_table(ours)
    assert a.schema.names == b.schema.names
    assert [f.type for f in a.schema] == [f.type for f in b.schema]
    left, right = a.to_pandas(), b.to_pandas()
    assert left["customer_id"].tolist() == right["customer_id"].tolist()
    for column in left.columns:
        x, y = left[column], right[column]
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            np.testing.assert_allclose(
                x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=0, err_msg=column
            )
        else:
            assert x.astype(object).where(x.notna(), None).tolist() == (
                y.astype(object).where(y.notna(), None).tolist()
            ), column


@pytest.fixture(scope="module")
def spark_run(spark, sample_run, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("spark_stages") / "run"
    shutil.copytree(sample_run, workdir)
    text = (workdir / "params.yaml").read_text("utf-8")
    assert "\nengine: duckdb" in text
    (workdir / "params.yaml").write_text(text.replace("\nengine: duckdb", "\nengine: spark"))
    return workdir


def _run(stage: str, workdir: Path, monkeypatch) -> None:
    import importlib

    monkeypatch.chdir(workdir)
    params = load_params("params.yaml")
    module = {
        "ltv": "ltv.stage",
        "churn": "churn.stage",
        "segment": "segmentation.stage",
        "targets": "targeting.stage",
    }[stage]
    importlib.import_module(module).run(params)


def test_ltv_and_churn_on_spark_equal_duckdb(spark_run, sample_run, monkeypatch):
    for stage, outputs in (
        ("ltv", ["data/processed/ltv.parquet"]),
        ("churn", ["data/processed/churn.parquet"]),
    ):
        for name in outputs:
            (spark_run / name).unlink()  # the DuckDB copy must not survive a no-op
        _run(stage, spark_run, monkeypatch)
        for name in outputs:
            assert_same_table(spark_run / name, sample_run / name)
    for name in ("ltv.json", "churn.json"):
        assert (spark_run / "reports/metrics" / name).read_text("utf-8") == (
            sample_run / "reports/metrics" / name
        ).read_text("utf-8")


def test_segment_assignment_on_spark_equals_duckdb(spark_run, sample_run, monkeypatch):
    # the DuckDB run fitted its clusters with no previous model: so must this one
    (spark_run / "models/clusters.json").unlink()
    outputs = [
        "data/processed/segments.parquet",
        "reports/metrics/segments.json",
        "reports/plots/pareto.csv",
        "reports/plots/cluster_profiles.csv",
    ]
    for name in outputs:
        (spark_run / name).unlink()
    _run("segment", spark_run, monkeypatch)
    assert_same_table(spark_run / outputs[0], sample_run / outputs[0])
    for name in [*outputs, "models/clusters.json"]:  # same bytes, the Parquet file too
        assert (spark_run / name).read_bytes() == (sample_run / name).read_bytes(), name


def test_targets_on_spark_equal_duckdb(spark_run, sample_run, monkeypatch):
    from kequn.settings import settings_from
    from targeting.read import SOURCES, read_candidates, read_population
    from targeting.spark_candidates import read_candidates_spark

    out = spark_run / "reports/targets"
    shutil.rmtree(out)
    (spark_run / "reports/metrics/targets.json").unlink()
    _run("targets", spark_run, monkeypatch)
    names = sorted(p.relative_to(sample_run / "reports/targets") for p in
                   (sample_run / "reports/targets").rglob("*") if p.is_file())  # fmt: skip
    assert len(names) > 3 and sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == (
        names
    )
    for name in [*(Path("reports/targets") / n for n in names), "reports/metrics/targets.json"]:
        assert (spark_run / name).read_bytes() == (sample_run / name).read_bytes(), name
    # the candidate table itself: same rows, columns and dtypes as the DuckDB read
    params = load_params("params.yaml")
    settings = settings_from(params).targeting.as_dict()
    context = {"horizon_days": 365.0, "cadence_days": settings["cadence_days"]}
    population = read_population(1000)
    paths = [dataset.path for dataset in SOURCES]
    due = {"prepare": lambda chunk: chunk.assign(days_since_contact=np.nan)}  # no contacts
    ours = read_candidates_spark(settings, context, population, 1000, params, paths, **due)
    theirs = read_candidates(settings, context, population, 1000, **due)
    assert 0 < len(theirs) < len(population)
    pd.testing.assert_frame_equal(ours, theirs)


def test_join_by_row_and_keep(spark, tmp_path):
    ids = [f"c{i:03d}" for i in range(300)]
    source, other = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"customer_id": ids, "x": np.arange(300.0)}), source)
    pq.write_table(pa.table({"customer_id": ids, "y": np.arange(300) * 10}), other)

    def score(chunk: pd.DataFrame) -> pd.DataFrame:
        return chunk.assign(z=chunk["x"] + chunk["y"], even=chunk["y"] % 20 == 0)

    join = join_by_row([(other, ["y"])])
    out = pd.concat(
        map_chunks(source, score, chunk_rows=64, near=tmp_path, frame=join, keep="even")
    )
    assert list(out.columns) == ["customer_id", "x", "y", "z"]
    assert out["customer_id"].tolist() == ids[::2]
    np.testing.assert_array_equal(out["z"].to_numpy(), np.arange(0, 300, 2) * 11.0)
    # one id out of step in the joined file: the file and the row are named
    swapped = ids.copy()
    swapped[150], swapped[151] = swapped[151], swapped[150]
    pq.write_table(pa.table({"customer_id": swapped, "y": np.arange(300)}), other)
    with pytest.raises(UserError, match=r"b\.parquet: customer_id does not match .*row 151\)"):
        list(map_chunks(source, score, chunk_rows=64, near=tmp_path, frame=join, keep="even"))


def test_map_chunks_keeps_file_order_and_types(spark, tmp_path):
    # several row groups and several Spark partitions, ids NOT sorted: order must be the file's
    rng = np.random.default_rng(3)
    ids = [f"c{i}" for i in rng.permutation(5000)]
    frame = pd.DataFrame({"customer_id": ids, "x": rng.normal(size=5000)})
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source, row_group_size=700)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")

    def score(chunk: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": chunk["customer_id"],
                "double": chunk["x"] * 2,
                "label": np.where(chunk["x"] > 0, "up", "down"),
                "empty": pd.array([None] * len(chunk), dtype="string"),
            }
        )

    try:
        chunks = list(map_chunks(source, score, chunk_rows=1000, near=tmp_path))
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert [len(c) for c in chunks] == [1000] * 5
    out = pd.concat(chunks, ignore_index=True)
    assert out["customer_id"].tolist() == ids
    np.testing.assert_array_equal(out["double"].to_numpy(), frame["x"].to_numpy() * 2)
    assert (out["label"] == np.where(frame["x"] > 0, "up", "down")).all()
    assert out["empty"].isna().all() and str(out["empty"].dtype) == "string"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".spark-")]  # cleaned up


def test_read_back_refuses_parts_out_of_order(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    for name, rows in (("part-0.parquet", [0, 1, 5, 3]),):
        pq.write_table(pa.table({"v": [1.0] * len(rows), ROW: rows}), parts / name)
    schema = pa.schema([pa.field("v", pa.float64())])
    with pytest.raises(RuntimeError, match="not in source row order"):
        list(read_back(parts.resolve().as_uri(), schema, 10))
