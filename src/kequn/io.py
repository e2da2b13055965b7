"""Atomic output: every file is written to a temporary name beside its target and renamed.

A failed or interrupted run therefore never leaves a half-written target list, table or
report: readers see either the previous complete file or the new complete file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # frames are written by their own methods; a stage that writes none
    import pandas as pd  # (e.g. features, written by DuckDB) starts without pandas

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(target: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write text atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_bytes(target: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if hasattr(value, "isoformat"):  # dates and timestamps
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted UTF-8 JSON, atomically (stable bytes for DVC)."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
    write_text(target, text + "\n")


def read_json(path: str | Path) -> Any:
    """Read a UTF-8 JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(target: str | Path, frame: pd.DataFrame) -> None:
    """Write a data frame as Parquet atomically, without the pandas index."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(target: str | Path, frame: pd.DataFrame, *, bom: bool = False) -> None:
    """Write a data frame as UTF-8 CSV atomically; ``bom=True`` adds the BOM Excel needs."""
    with atomic_path(target) as tmp:
        frame.to_csv(
            tmp, index=False, encoding="utf-8-sig" if bom else "utf-8", lineterminator="\n"
        )
