"""The targets stage reads its inputs chunk by chunk: the lists do not depend on the chunk
size, and equal those ranked from the whole per-customer table."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run_stage
from kequn.errors import UserError
from kequn.rules import DAYS_PER_MONTH
from kequn.settings import settings_from
from targeting.lists import build_target_lists
from targeting.read import read_candidates, read_population

FILES = ("customers", "ltv", "churn", "segments", "products")


def _inputs(sample_run, tmp_path, n: int = 600) -> list:
    """The first ``n`` customers of the sample run's per-customer files, each written with its own
    row groups (so chunks must be re-cut to line up)."""
    paths = []
    for name, row_group in zip(FILES, (n, 97, 50, 211, 133), strict=True):
        frame = pd.read_parquet(sample_run / f"data/processed/{name}.parquet").head(n)
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path, index=False, row_group_size=row_group)
        paths.append(path)
    return paths


def _settings(sample_run):
    typed = settings_from(yaml.safe_load((sample_run / "params.yaml").read_text("utf-8")))
    settings = typed.targeting.as_dict()
    context = {
        "horizon_days": float(typed.ltv.horizon_months) * DAYS_PER_MONTH,
        "cadence_days": settings["cadence_days"],
    }
    return settings, context


def _whole_table(paths) -> pd.DataFrame:
    """Every column of the per-customer files, merged on customer_id (the first file's
    column wins)."""
    table = pd.read_parquet(paths[0])
    for path in paths[1:]:
        other = pd.read_parquet(path)
        overlap = [c for c in other.columns if c in table.columns and c != "customer_id"]
        table = table.merge(other.drop(columns=overlap), on="customer_id", how="left")
    return table.assign(days_since_contact=np.nan)


def _chunked(paths, settings, context, chunk_rows):
    population = read_population(chunk_rows, paths)
    table = read_candidates(
        settings,
        context,
        population,
        chunk_rows,
        prepare=lambda chunk: chunk.assign(days_since_contact=np.nan),
        paths=paths,
    )
    return table, population


def test_lists_from_chunks_of_7_equal_one_chunk_and_the_whole_table(sample_run, tmp_path):
    paths = _inputs(sample_run, tmp_path)
    settings, context = _settings(sample_run)
    assert settings["campaigns"]["vip_care"]["top_share_per_branch"]  # ranked over everyone
    expected, expected_metrics = build_target_lists(_whole_table(paths), settings, context)
    for chunk_rows in (7, 1_000_000):
        table, population = _chunked(paths, settings, context, chunk_rows)
        assert len(population) == 600
        assert 0 < len(table) < 600  # rows no campaign takes were dropped
        assert len(table.columns) < 45  # and columns no list reads
        lists, metrics = build_target_lists(table, settings, context, population=population)
        assert metrics == expected_metrics
        assert list(lists) == list(expected)
        for campaign, frame in expected.items():
            pd.testing.assert_frame_equal(lists[campaign], frame, check_exact=True)
    assert all(len(frame) for frame in expected.values())


def test_both_passes_report_progress_over_every_client(sample_run, tmp_path, caplog):
    import logging

    paths = _inputs(sample_run, tmp_path)
    settings, context = _settings(sample_run)
    with caplog.at_level(logging.INFO, logger="kequn.targets"):
        _chunked(paths, settings, context, 7)
    for what in ("targets population read", "targets eligibility pass"):
        seen = [r.getMessage() for r in caplog.records if r.getMessage().startswith(what)]
        # 600 rows in chunks of 7 = 86 chunks: a line every 10 chunks, and one at the end
        assert len(seen) == 9, what
        assert seen[0].startswith(f"{what}: 70/600 (12%) in 10 chunk(s), ")
        assert seen[-1].startswith(f"{what}: 600/600 (100%) in 86 chunk(s), ")


def test_a_file_out_of_step_with_customers_is_named(sample_run, tmp_path):
    paths = _inputs(sample_run, tmp_path, n=100)
    frame = pd.read_parquet(paths[1])
    frame.iloc[::-1].to_parquet(paths[1], index=False)  # ltv in another order
    settings, context = _settings(sample_run)
    with pytest.raises(UserError, match=r"ltv\.parquet: customer_id does not match"):
        _chunked(paths, settings, context, 30)


def test_the_stage_writes_the_same_lists_with_small_chunks(sample_run, tmp_path):
    work = tmp_path / "run"
    for folder in ("data/processed", "data/sample", "reports/metrics"):
        shutil.copytree(sample_run / folder, work / folder)
    params = yaml.safe_load((sample_run / "params.yaml").read_text("utf-8"))
    params["scale"] = {"chunk_customers": 613, "fit_customers": 0}
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), "utf-8")
    done = run_stage("targets", work)
    assert done.returncode == 0, done.stderr[-3000:]
    want = json.loads((sample_run / "reports/metrics/targets.json").read_text("utf-8"))
    got = json.loads((work / "reports/metrics/targets.json").read_text("utf-8"))
    assert got == want
    written = sorted(
        p.relative_to(sample_run) for p in (sample_run / "reports/targets").rglob("*.csv")
    )
    assert len(written) > 4
    for name in written:
        assert (work / name).read_bytes() == (sample_run / name).read_bytes(), name
