"""Physical lines of a UTF-8 text file, found with NumPy: counts, blank lines, raw text.

DuckDB's CSV parser splits fields fast but does not report the line a row came from. The
reader aligns parsed rows with physical lines instead (:mod:`ingest.read`), which needs
the number of lines and where the blank ones are (:func:`scan_lines`), and the raw text
of the few lines shown to the analyst as rejects (:func:`fetch_lines`). Both read the
file in large blocks and find newlines with vectorised NumPy, never line by line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK_BYTES = 64 * 1024 * 1024

NEWLINE, CARRIAGE_RETURN = 10, 13


def _blocks(path: Path) -> Iterator[tuple[bytes, np.ndarray]]:
    """Blocks of whole lines and, for each, the offsets where its lines end (exclusive).

    A last line without a newline ends at the end of its block.
    """
    with open(path, "rb") as handle:
        carry = b""
        while True:
            chunk = handle.read(BLOCK_BYTES)
            if not chunk:
                if carry:
                    yield carry, np.array([len(carry)], dtype=np.int64)
                return
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == NEWLINE)
            yield block, ends


def _line_bounds(block: bytes, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, stop) of each line's text in ``block``, without its ``\\n`` or ``\\r\\n``."""
    starts = np.concatenate(([0], ends[:-1] + 1))
    stops = ends.copy()
    if block[-1] != NEWLINE:  # the last line has no newline: it ends with the block
        stops[-1] = len(block)
    view = np.frombuffer(block, dtype=np.uint8)
    has_cr = (stops > starts) & (view[np.maximum(stops - 1, 0)] == CARRIAGE_RETURN)
    return starts, stops - has_cr


@dataclass(frozen=True)
class LineScan:
    """How many physical lines a file has and which (1-based) are empty."""

    lines: int
    blank: np.ndarray


def scan_lines(path: Path) -> LineScan:
    """Count the lines of ``path`` and list the empty ones (``\\r`` alone counts as empty)."""
    total = 0
    blank = []
    for block, ends in _blocks(Path(path)):
        starts, stops = _line_bounds(block, ends)
        blank.append(np.flatnonzero(stops == starts) + total + 1)
        total += len(ends)
    return LineScan(total, np.concatenate(blank) if blank else np.zeros(0, dtype=np.int64))


def fetch_lines(path: Path, wanted: np.ndarray) -> list[str]:
    """The text of the 1-based lines ``wanted`` (sorted ascending) of the UTF-8 ``path``."""
    wanted = np.asarray(wanted, dtype=np.int64)
    found: list[str] = []
    first = 1  # line number of the first line of the current block
    position = 0  # next index into wanted
    for block, ends in _blocks(Path(path)):
        if position >= len(wanted):
            break
        last = first + len(ends)  # one past the block's last line
        stop = np.searchsorted(wanted, last, side="left")
        if stop > position:
            starts, stops = _line_bounds(block, ends)
            index = wanted[position:stop] - first
            found.extend(
                block[a:b].decode("utf-8", errors="replace")
                for a, b in zip(starts[index].tolist(), stops[index].tolist(), strict=True)
            )
            position = stop
        first = last
    if position < len(wanted):
        raise ValueError(f"{path}: line {int(wanted[position])} is past the end of the file")
    return found
