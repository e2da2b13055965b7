"""The analyst notebooks: stored without outputs, and each runs top to bottom on a run."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO_ROOT
from reporting.inputs import run_dir

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_are_stored_without_outputs():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path.name
        for cell in code:
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: {cell.id}"
        # they call the project's functions rather than copying them
        assert any("from reporting" in c.source for c in code), path.name


def test_run_directory_defaults_to_the_repo_root(monkeypatch, tmp_path):
    monkeypatch.delenv("KEQUN_RUN_DIR", raising=False)
    monkeypatch.chdir(REPO_ROOT / "notebooks")
    assert run_dir() == REPO_ROOT
    monkeypatch.setenv("KEQUN_RUN_DIR", str(tmp_path))
    assert run_dir() == tmp_path.resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_sample(path: Path, sample_run: Path, monkeypatch, tmp_path):
    """Executed with the venv's kernel against the full sample run; any cell error fails."""
    monkeypatch.setenv("KEQUN_RUN_DIR", str(sample_run))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    first = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert f"run directory: {sample_run.resolve()}" in first
    assert "missing outputs: none" in first
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert images, "every notebook shows at least one chart"
