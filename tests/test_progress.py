"""kequn.log.progress: plain log lines with an ETA off a terminal, one line in place on one."""

from __future__ import annotations

import io
import logging

from kequn.log import progress, progress_line


class FakeClock:
    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_n_chunks_with_eta(caplog):
    logger = logging.getLogger("kequn.test_progress")
    chunks = [list(range(100))] * 5  # 500 rows in 5 chunks
    stream = io.StringIO()  # not a TTY: nothing may be written to it
    with caplog.at_level(logging.INFO, logger="kequn.test_progress"):
        seen = list(
            progress(
                chunks, logger, "scoring", total=500, log_every=2, size=len,
                stream=stream, clock=FakeClock(10.0), every_seconds=1e9,
            )
        )  # fmt: skip
    assert seen == chunks
    assert stream.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records]
    # clock: 0 at start, then 10 s per chunk; lines after chunks 2 and 4, and at the end
    assert lines == [
        "scoring: 200/500 (40%) in 2 chunk(s), 20.0s, ETA 30.0s",
        "scoring: 400/500 (80%) in 4 chunk(s), 40.0s, ETA 10.0s",
        "scoring: 500/500 (100%) in 5 chunk(s), 1m00s",
    ]
    assert not any("\r" in line for line in lines)


def test_plain_lines_by_time(caplog):
    logger = logging.getLogger("kequn.test_progress")
    with caplog.at_level(logging.INFO, logger="kequn.test_progress"):
        list(
            progress(
                range(6), logger, "steps", log_every=100, every_seconds=25,
                stream=io.StringIO(), clock=FakeClock(10.0),
            )
        )  # fmt: skip
    # a line when 25 s have passed since the last one (after items 3 and 6), none at the
    # end beyond the last item's
    assert [r.getMessage() for r in caplog.records] == [
        "steps: 3/6 (50%), 30.0s, ETA 30.0s",
        "steps: 6/6 (100%), 1m00s",
    ]


def test_terminal_line_in_place(caplog):
    stream = Tty()
    logger = logging.getLogger("kequn.test_progress")
    with caplog.at_level(logging.INFO, logger="kequn.test_progress"):
        list(progress(range(2), logger, "x", stream=stream, clock=FakeClock(1.0)))
    assert stream.getvalue() == (
        "\rx: 1/2 (50%), 1.0s, ETA 1.0s\x1b[K\rx: 2/2 (100%), 2.0s\x1b[K\n"
    )
    assert not caplog.records  # nothing logged on a terminal


def test_progress_line_long_durations():
    assert progress_line("r", 1, 4, 1, 3725.0) == "r: 1/4 (25%) in 1 chunk(s), 1h02m, ETA 3h06m"
    assert progress_line("r", 7, None, None, 61.0) == "r: 7, 1m01s"
