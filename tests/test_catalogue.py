"""The catalogue agrees with dvc.yaml, and the tables the stages write have its schema."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest
import yaml

from conftest import REPO_ROOT, read_cdnow_sample
from features.duckdb_engine import write_customer_features
from kequn import catalogue
from kequn.errors import UserError

#: deps that are inputs from outside the pipeline or code, not datasets
NOT_DATA = ("src/", "mappings", "data/sample", "data/raw", "tests/data/")


def declared(entries: list) -> set[str]:
    """Paths of a dvc.yaml outs/metrics/plots/deps list (strings or one-key mappings)."""
    return {next(iter(e)) if isinstance(e, dict) else str(e) for e in entries or []}


@pytest.fixture(scope="module")
def stages() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_every_stage_writes_exactly_its_catalogued_datasets(stages):
    writers = {d.writer for d in catalogue.DATASETS}
    assert writers == set(stages)
    for name, stage in stages.items():
        outs = set()
        for key in ("outs", "metrics", "plots"):
            outs |= declared(stage.get(key))
        assert outs == {d.path.as_posix() for d in catalogue.written_by(name)}, name


def test_every_data_dependency_is_an_earlier_stages_dataset(stages):
    order = list(stages)
    for name, stage in stages.items():
        for dep in declared(stage.get("deps")):
            if dep.startswith(NOT_DATA):
                continue
            assert dep in catalogue.BY_PATH, f"{name}: {dep} is not in the catalogue"
            writer = catalogue.BY_PATH[dep].writer
            assert order.index(writer) < order.index(name), f"{name} reads {dep} of {writer}"


def test_names_and_paths_are_unique():
    assert len(catalogue.BY_NAME) == len(catalogue.DATASETS)
    assert len(catalogue.BY_PATH) == len(catalogue.DATASETS)


def test_the_features_table_has_the_catalogued_schema(tmp_path):
    target = tmp_path / "customers.parquet"
    clients = tmp_path / "clients.parquet"
    pa.parquet.write_table(pa.table({"customer_id": pa.array([], pa.string())}), clients)
    write_customer_features(
        target, read_cdnow_sample(), dt.date(1997, 9, 30), unit_days=7, clients=clients
    )
    catalogue.CUSTOMERS.check_schema(pa.parquet.read_schema(target))


def test_a_schema_mismatch_names_the_file_and_column():
    schema = pa.schema([("customer_id", pa.string()), ("date", pa.string())])
    with pytest.raises(
        UserError, match="transactions.parquet: column date is string, expected date32"
    ):  # noqa: E501
        catalogue.TRANSACTIONS.check_schema(schema)
    with pytest.raises(UserError, match="missing column customer_id; rerun features"):
        catalogue.CUSTOMERS.check_schema(pa.schema([("x", pa.int64())]))
