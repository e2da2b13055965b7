"""Shared fixtures: paths to the bundled test data and one full pipeline run on the sample."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"

#: the stages in dvc.yaml order (kequn.cli names)
STAGE_ORDER = ["ingest", "features", "ltv", "churn", "segment", "targets", "report"]


def run_stage(
    stage: str, workdir: Path, params: str = "params.yaml"
) -> subprocess.CompletedProcess:
    """Run ``python -m kequn <stage>`` in ``workdir`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "kequn", stage, "--params", params],
        cwd=workdir,
        capture_output=True,
        text=True,
    )


def copy_project_inputs(workdir: Path) -> None:
    """Copy what a pipeline run reads (params, mappings, the bundled sample) into ``workdir``."""
    shutil.copy(REPO_ROOT / "params.yaml", workdir / "params.yaml")
    shutil.copytree(REPO_ROOT / "mappings", workdir / "mappings")
    shutil.copytree(REPO_ROOT / "data" / "sample", workdir / "data" / "sample")


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory in which every stage has run, in order, on the bundled sample."""
    workdir = tmp_path_factory.mktemp("sample_run")
    copy_project_inputs(workdir)
    for stage in STAGE_ORDER:
        done = run_stage(stage, workdir)
        if done.returncode != 0:
            pytest.fail(f"stage {stage} failed on the sample:\n{done.stderr[-4000:]}")
    return workdir
