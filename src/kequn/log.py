"""Stage logging: what each step does and how long it took; progress bars on a terminal.

On a terminal, :func:`progress` shows a tqdm bar; in CI or a log file (no TTY) it logs a
plain line every ``log_every`` items instead, so logs stay readable.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

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


def progress(
    items: Iterable[T],
    logger: logging.Logger,
    what: str,
    total: int | None = None,
    log_every: int = 10,
) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on a terminal, or log lines without one."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=what, file=sys.stderr)
        return
    start = time.perf_counter()
    for i, item in enumerate(items, start=1):
        yield item
        if i % log_every == 0 or (total is not None and i == total):
            of = f"/{total}" if total is not None else ""
            logger.info("%s: %d%s (%.1f s)", what, i, of, time.perf_counter() - start)
