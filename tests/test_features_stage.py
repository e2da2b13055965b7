"""``python -m kequn features`` on the CDNOW sample written as the ingest stage's output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import read_cdnow_sample, run_stage


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    interim = tmp_path / "data" / "interim"
    interim.mkdir(parents=True)
    read_cdnow_sample().to_parquet(interim / "transactions.parquet", index=False)
    pd.DataFrame({"customer_id": ["00004"], "region": ["华东"]}).to_parquet(
        interim / "clients.parquet", index=False
    )
    return tmp_path


def write_params(workdir: Path, as_of: str, engine: str = "duckdb") -> None:
    (workdir / "params.yaml").write_text(
        f'as_of: "{as_of}"\nengine: {engine}\n'
        "features:\n  time_unit_days: 7\n  trend_window_days: 90\n",
        encoding="utf-8",
    )


def test_stage_writes_one_row_per_customer_as_of(workdir):
    write_params(workdir, "1997-09-30")
    done = run_stage("features", workdir)
    assert done.returncode == 0, done.stderr
    customers = pd.read_parquet(workdir / "data" / "processed" / "customers.parquet")
    assert len(customers) == 2357  # customers with a purchase by 1997-09-30
    as_of = dt.date(1997, 9, 30)
    assert customers["last_date"].max() == as_of  # the sample has purchases on 1997-09-30
    tenure = [(as_of - first).days for first in customers["first_date"]]
    assert customers["tenure_days"].tolist() == tenure
    assert (customers["frequency"] > 0).sum() == 946
    region = customers.set_index("customer_id")["region"]
    assert region["00004"] == "华东" and region.isna().sum() == 2356
    assert "2357 customers" in done.stderr


def test_empty_as_of_means_the_last_date_in_the_data(workdir):
    write_params(workdir, "")
    assert run_stage("features", workdir).returncode == 0
    customers = pd.read_parquet(workdir / "data" / "processed" / "customers.parquet")
    assert customers["last_date"].max() == dt.date(1998, 6, 30)
    assert customers["days_since_last"].min() == 0


def test_as_of_before_the_data_and_unknown_engine_are_user_errors(workdir):
    write_params(workdir, "1996-12-31")
    done = run_stage("features", workdir)
    assert done.returncode == 2 and "before the first transaction date 1997-01-01" in done.stderr
    write_params(workdir, "1997-09-30", engine="polars")
    done = run_stage("features", workdir)
    assert done.returncode == 2 and "engine: 'polars' must be one of duckdb | spark" in done.stderr
    assert not (workdir / "data" / "processed" / "customers.parquet").exists()


def test_as_of_after_the_data_stops_unless_opted_in(workdir):
    """An as_of after the last transaction (1998-06-30) scores a period nobody has seen."""
    write_params(workdir, "1998-07-01")
    done = run_stage("features", workdir)
    assert done.returncode == 2
    assert "as_of=1998-07-01 is after the data's last date 1998-06-30" in done.stderr
    assert not (workdir / "data" / "processed" / "customers.parquet").exists()
    with open(workdir / "params.yaml", "a", encoding="utf-8") as params:
        params.write("allow_as_of_after_data: true\n")
    assert run_stage("features", workdir).returncode == 0
    customers = pd.read_parquet(workdir / "data" / "processed" / "customers.parquet")
    assert customers["days_since_last"].min() == 1


def test_as_of_after_the_extract_date_stops_unless_opted_in(workdir):
    """The data run to 1998-06-30, but the mapping says the extract was taken on 1998-03-31:
    an as_of after that is refused even though transactions exist after it."""
    mapping = workdir / "mappings" / "cdnow.yaml"
    mapping.parent.mkdir()
    mapping.write_text(
        'files: ["tests/data/CDNOW_sample.txt"]\nformat: whitespace\nencoding: utf-8\n'
        "header: false\ncolumns: {customer_id: 0, date: 2, amount: 4}\n"
        'date_format: "%Y%m%d"\nextract_date: "1998-03-31"\n',
        encoding="utf-8",
    )
    write_params(workdir, "1998-04-30")
    with open(workdir / "params.yaml", "a", encoding="utf-8") as params:
        params.write("ingest:\n  mapping: mappings/cdnow.yaml\n")
    done = run_stage("features", workdir)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "mappings/cdnow.yaml: extract_date 1998-03-31 is before params.yaml's "
            "as_of=1998-04-30; "
            "set allow_as_of_after_data: true to score it anyway"
        )
    )
    assert not (workdir / "data" / "processed" / "customers.parquet").exists()
    write_params(workdir, "1998-03-31")  # on the extract date: scored
    with open(workdir / "params.yaml", "a", encoding="utf-8") as params:
        params.write("ingest:\n  mapping: mappings/cdnow.yaml\n")
    assert run_stage("features", workdir).returncode == 0
    context = json.loads((workdir / "data" / "processed" / "context.json").read_text("utf-8"))
    assert context["extract_date"] == "1998-03-31"


def test_spark_engine_stage_writes_the_duckdb_table(workdir):
    """``engine: spark`` through the stage entry point (a JVM in local mode)."""
    write_params(workdir, "1997-09-30")
    assert run_stage("features", workdir).returncode == 0
    target = workdir / "data" / "processed" / "customers.parquet"
    duck = pd.read_parquet(target)
    target.unlink()
    write_params(workdir, "1997-09-30", engine="spark")
    (workdir / "params.yaml").write_text(
        (workdir / "params.yaml").read_text("utf-8")
        + "spark:\n  master: local[2]\n  driver_memory: 1g\n",
        encoding="utf-8",
    )
    done = run_stage("features", workdir)
    assert done.returncode == 0, done.stderr
    assert "features.spark_engine" in done.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(target), duck, check_exact=False, rtol=1e-9)
