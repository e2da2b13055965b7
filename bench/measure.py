"""What every benchmark records: a child process's wall time, CPU time and peak memory, the
load of the machine around it, and what the machine is.

- wall: ``time.perf_counter`` around the child;
- CPU: user + system seconds of the child and every descendant it waited for
  (``os.wait4``), so a DVC stage started by the child counts; or, when larger, the sum
  of every process of the tree as last sampled, which counts descendants nobody waits for
  (PySpark's JVM and its Python workers are killed, not reaped, so ``wait4`` misses them;
  the sampled sum misses at most each process's last ``interval``);
- peak RSS: the largest sum of resident memory over the child's process tree, sampled every
  ``interval`` seconds with psutil (at least the kernel's own peak for the child);
- load: the 1-minute load average before and after (2 cores: 2.0 means the machine was
  already full with other work, so wall time is inflated; CPU time much less so).

The benchmark scripts run as ``python bench/<script>.py``, which puts ``bench/`` on the path,
so they import this module as ``measure``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Measured:
    """One measured child process."""

    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_gb: float
    load_before: float
    load_after: float
    output: str  # stdout (and stderr when merged); "" unless captured


def run_measured(
    command: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
    merge_stderr: bool = False,
    interval: float = 0.2,
) -> Measured:
    """Run ``command`` to the end and measure it (see the module docstring).

    ``capture``: keep its stdout (spooled to a temporary file, so a chatty child never
    blocks on a full pipe); ``merge_stderr``: stderr too.
    """
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as spool:
        stdout = spool if capture else None
        stderr = subprocess.STDOUT if capture and merge_stderr else None
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        peak = 0
        cpu_seen: dict[int, float] = {}  # pid -> its own user + system, last sampled
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            try:
                root = psutil.Process(child.pid)
            except psutil.Error:
                return
            while not done.is_set():
                try:
                    tree = [root, *root.children(recursive=True)]
                    rss = 0
                    for process in tree:
                        try:
                            rss += process.memory_info().rss
                            times = process.cpu_times()
                            cpu_seen[process.pid] = times.user + times.system
                        except psutil.Error:
                            pass
                    peak = max(peak, rss)
                except psutil.Error:
                    pass
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        output = ""
        if capture:
            spool.seek(0)
            output = spool.read()
    return Measured(
        returncode=child.returncode,
        wall_s=wall,
        cpu_s=max(usage.ru_utime + usage.ru_stime, sum(cpu_seen.values())),
        peak_rss_gb=max(peak, usage.ru_maxrss * 1024) / 1e9,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        output=output,
    )


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, cores, RAM, Python version."""
    ram = psutil.virtual_memory().total / 2**30
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )
