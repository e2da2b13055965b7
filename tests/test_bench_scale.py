"""The scale benchmark's helpers (bench/bench_scale.py): params edits, phases, projection."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import yaml

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO_ROOT / "bench"))  # it imports measure as the scripts do
    spec = importlib.util.spec_from_file_location("bench_scale", REPO_ROOT / "bench/bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


PARAMS = """# top comment
engine: duckdb   # which engine
seed: 1
ingest:
  mapping: a.yaml      # transactions
  balances_mapping: b.yaml # balances
churn:
  horizon_days: 90
"""


def test_setting_changes_only_the_value_on_that_line(bench):
    text = bench.with_setting(PARAMS, "engine", "spark")
    text = bench.with_setting(text, "ingest.balances_mapping", '""')
    assert yaml.safe_load(text) == {
        "engine": "spark",
        "seed": 1,
        "ingest": {"mapping": "a.yaml", "balances_mapping": ""},
        "churn": {"horizon_days": 90},
    }
    changed = [a for a, b in zip(PARAMS.splitlines(), text.splitlines(), strict=True) if a != b]
    assert changed == ["engine: duckdb   # which engine", "  balances_mapping: b.yaml # balances"]
    assert "# balances" in text and "# which engine" in text


def test_a_key_outside_its_section_or_missing_is_refused(bench):
    with pytest.raises(SystemExit, match="ingest.horizon_days"):
        bench.with_setting(PARAMS, "ingest.horizon_days", "30")  # churn's key, not ingest's
    with pytest.raises(SystemExit, match="no section"):
        bench.with_setting(PARAMS, "ltv.model", "bgnbd")
    with pytest.raises(SystemExit, match="'mapping'"):
        bench.with_setting(PARAMS, "mapping", "x")  # nested only, not top-level


def test_projection_recovers_a_planted_power_law(bench):
    def law(n):
        return 3.0 * n**1.3

    b, projected = bench.project(1e5, law(1e5), 1e6, law(1e6), 1e7)
    assert b == pytest.approx(1.3, rel=1e-12)
    assert projected == pytest.approx(law(1e7), rel=1e-12)
    flat, same = bench.project(1e5, 2.0, 1e6, 2.0, 1e7)  # constant: exponent 0
    assert flat == pytest.approx(0.0, abs=1e-12) and same == pytest.approx(2.0)


def test_phases_add_up_lines_that_differ_in_dates_and_counts(bench):
    log = "\n".join(
        [
            "12:28:45 kequn.features INFO features as of 2025-10-02 (holdout to 2025-12-31) ...",
            "12:28:48 kequn.features INFO features as of 2025-10-02 (holdout to 2025-12-31) done"
            " in 2.11 s",
            "12:28:50 kequn.churn INFO stacked classifier on 61287 customers as of 2025-07-04 done"
            " in 3.81 s",
            "12:29:04 kequn.features INFO features as of 2025-07-03 (holdout to 2025-10-01) done"
            " in 1.72 s",
            "12:29:09 kequn.churn INFO stacked classifier on 33864 customers as of 2025-04-04 done"
            " in 3.29 s",
            "12:29:28 kequn.churn INFO stage churn finished in 46.1 s",
        ]
    )
    rows = bench.phases(log)
    assert [(name, n) for name, n, _ in rows] == [
        ("stacked classifier on # customers as of #", 2),
        ("features as of # (holdout to #)", 2),
    ]
    assert rows[0][2] == pytest.approx(7.10) and rows[1][2] == pytest.approx(3.83)
    assert bench.phases("12:00:00 kequn.churn INFO nothing timed here") == []


def test_stages_are_dvc_yaml_in_file_order_with_their_commands(bench):
    stages = bench.stage_commands(REPO_ROOT / "dvc.yaml")
    spec = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text("utf-8"))["stages"]
    assert [name for name, _ in stages] == list(spec)
    assert stages[0] == ("ingest", "python -m kequn ingest")
    assert all(cmd == spec[name]["cmd"] for name, cmd in stages)


def _section(heading: str, customers: int, rows: dict[str, tuple[float, float, float]]) -> str:
    lines = [f"\n### {heading} (2026-12-07 12:00 UTC)\n", "| stage | ... |", "| --- |"]
    for stage, (wall, cpu, peak) in rows.items():
        lines.append(
            f"| {stage} | {customers:,} | 1,000 | duckdb | {wall} | {cpu} | {peak} | 1 / 1 |"
        )
    return "\n".join(lines) + "\nRatio ingest / bare read: 4.5x wall.\n"


def test_projection_reads_the_last_matching_sections_and_bounds_chunked_stages(bench):
    markdown = (
        _section("duckdb, /r/run100k", 100_000, {"ingest": (9.0, 9.0, 9.0)})  # superseded
        + _section(
            "duckdb, /r/run100k", 100_000, {"ingest": (10.0, 8.0, 1.0), "churn": (40.0, 40.0, 1.5)}
        )
        + _section(
            "duckdb, /r/run1m",
            1_000_000,
            {"ingest": (100.0, 80.0, 2.0), "churn": (200.0, 200.0, 4.0)},
        )
    )
    small = bench.section_rows(markdown, "run100k")
    assert small == {"ingest": (100_000, 10.0, 8.0, 1.0), "churn": (100_000, 40.0, 40.0, 1.5)}
    rows = bench.projected_rows(small, bench.section_rows(markdown, "run1m"), 1e7, "duckdb")
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    ingest, churn = cells
    # ingest grew 10x per decade: linear (b = 1), memory 2x per decade -> 4 GB
    assert ingest[3:] == ["1000", "800", "1.00", "4.00"]
    # churn: b = log10(5) = 0.70, memory bounded at the 1M run's 4.0 GB
    assert churn[3:] == ["1000", "1000", "0.70", "4.00 (bounded)"]
    with pytest.raises(SystemExit, match="no section"):
        bench.section_rows(markdown, "run10m")


UNREAPED = """
import os, subprocess, sys, time
flag = sys.argv[1]
burn = (
    "import sys, time\\n"
    "t = time.process_time()\\n"
    "while time.process_time() - t < 1.0:\\n"
    "    pass\\n"
    "open(sys.argv[1], 'w').close()\\n"
    "time.sleep(3)\\n"
)
subprocess.Popen([sys.executable, "-c", burn, flag])  # never waited for, like PySpark's JVM
while not os.path.exists(flag):
    time.sleep(0.02)
time.sleep(0.3)  # a few samples after the burn
os._exit(0)
"""


def test_cpu_counts_a_descendant_nobody_waits_for(bench, tmp_path):
    import measure

    flag = tmp_path / "burnt"
    run = measure.run_measured([sys.executable, "-c", UNREAPED, str(flag)], interval=0.05)
    assert run.returncode == 0
    assert run.cpu_s >= 0.95  # wait4 alone sees only the parent's few hundredths of a second
