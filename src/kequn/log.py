"""Stage logging: what each step does and how long it took; progress bars on a terminal.

On a terminal, :func:`progress` rewrites one line in place (done, total, elapsed, ETA); in
CI or a log file (no TTY) it logs the same text as a plain line every ``log_every`` items or
``every_seconds`` seconds and at the end, never a carriage return, so logs stay readable.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``kequn`` hierarchy, configured once to write to stderr."""
    root = logging.getLogger("kequn")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return root.getChild(name)


@contextlib.contextmanager
def timed(logger: logging.Logger, what: str) -> Iterator[None]:
    """Log ``what`` when it starts and its duration when it ends."""
    logger.info("%s ...", what)
    start = time.perf_counter()
    yield
    logger.info("%s done in %.2f s", what, time.perf_counter() - start)


def _duration(seconds: float) -> str:
    """``75.2`` -> ``1m15s``; under a minute ``12.3s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(
    what: str, done: float, total: float | None, chunks: int | None, elapsed: float
) -> str:
    """One progress report: units done (of total, with percent), chunks, elapsed, ETA.

    The ETA assumes the rate so far holds: ``elapsed * (total - done) / done``.
    """
    of = f"/{total:,.0f} ({100 * done / total:.0f}%)" if total else ""
    counted = "" if chunks is None else f" in {chunks} chunk(s)"
    text = f"{what}: {done:,.0f}{of}{counted}, {_duration(elapsed)}"
    if total and done and done < total:
        text += f", ETA {_duration(elapsed * (total - done) / done)}"
    return text


def progress(
    items: Iterable[T],
    logger: logging.Logger,
    what: str,
    total: int | None = None,
    log_every: int = 10,
    *,
    size: Callable[[T], float] | None = None,
    every_seconds: float = 30.0,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Iterate ``items``, reporting progress and an ETA (:func:`progress_line`).

    Parameters
    ----------
    items : iterable
        The work, e.g. chunks of customers.
    logger : logging.Logger
        Where the plain lines go (no terminal).
    what : str
        What is counted, first word of every report.
    total : int, optional
        Units expected (items, or rows with ``size``); ``len(items)`` when it has one.
    log_every : int
        Without a terminal: a line every ``log_every`` items ...
    size : callable, optional
        Units of one item (``len`` for a chunk of rows); 1 per item when None.
    every_seconds : float
        ... or when ``every_seconds`` have passed since the last line, and a last line at
        the end.
    stream : file, optional
        The terminal (stderr by default). On a TTY one line is rewritten in place
        (carriage return); elsewhere nothing is written to it.
    clock : callable
        Seconds, monotonic (a fake clock in tests).
    """
    if total is None and size is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    stream = sys.stderr if stream is None else stream
    tty = bool(getattr(stream, "isatty", lambda: False)())

    def chunks(n: int) -> int | None:
        return n if size is not None else None

    start = last = clock()
    reported = -1
    done = 0.0
    count = 0
    for item in items:
        yield item
        count += 1
        done += 1 if size is None else size(item)
        now = clock()
        line = progress_line(what, done, total, chunks(count), now - start)
        if tty:
            stream.write("\r" + line + "\x1b[K")
            stream.flush()
        elif count % log_every == 0 or now - last >= every_seconds:
            logger.info("%s", line)
            last, reported = now, count
    if tty:
        stream.write("\n")
        stream.flush()
    elif reported != count or count == 0:
        logger.info("%s", progress_line(what, done, total, chunks(count), clock() - start))
