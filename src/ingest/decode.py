"""Decoding extracts: DuckDB reads UTF-8 only, so anything else is transcoded first.

A GB18030/GBK/Latin-1 file is decoded in fixed-size chunks with an incremental decoder
(constant memory whatever the file size) and written as UTF-8 to a temporary file. A byte
sequence that does not decode becomes a :class:`~kequn.errors.UserError` naming the file,
the byte offset and encodings to try.

A large file in an encoding where the byte ``\n`` only ever is a newline is cut after
newlines into pieces that processes decode side by side (:func:`transcode_to_utf8` with a
pool): the same UTF-8 bytes and the same first error, on several cores.
"""

from __future__ import annotations

import codecs
import multiprocessing
import os
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from kequn.errors import UserError

CHUNK_BYTES = 16 * 1024 * 1024

#: codecs DuckDB reads natively (its CSV reader strips a UTF-8 byte-order mark itself)
NATIVE = ("utf-8", "utf-8-sig")

#: encodings in which the byte 0x0A only ever is a newline (never inside a multi-byte
#: character) and no state carries from one line to the next: a file can be cut after any
#: newline and its pieces decoded on their own
SPLITTABLE = ("gb18030", "gbk", "gb2312", "big5", "big5hkscs", "iso8859-1", "cp1252", "ascii")

#: files from this size on are decoded by a pool (:func:`decode_pool`); smaller ones in the
#: calling thread (starting processes costs more than it saves)
PARALLEL_MIN_BYTES = 4 * CHUNK_BYTES

#: processes of the pool, and pieces in flight per process (bounds the memory held)
DECODE_WORKERS = 2
PIECES_PER_WORKER = 2

#: what to suggest, in order, when a file does not decode
SUGGESTIONS = ("utf-8", "gb18030", "latin-1")


def normalise_encoding(name: str) -> str:
    """Python's canonical name of an encoding (``"GBK"`` -> ``"gbk"``); ValueError if unknown."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None


def _decode_error(path: Path, encoding: str, offset: int, bad_bytes: bytes) -> UserError:
    bad = bad_bytes[:4].hex(" ")
    others = [
        e
        for e in SUGGESTIONS
        if e != encoding and not (encoding.startswith("utf-8") and e == "utf-8")
    ]
    return UserError(
        f"{path}: byte offset {offset} (bytes {bad}) is not valid {encoding}; "
        f"set `encoding:` in the mapping, e.g. try {' or '.join(others)}"
    )


def _stream_decode(path: Path, encoding: str, sink=None) -> None:
    """Decode ``path`` chunk by chunk; pass each text piece to ``sink``; raise on bad bytes."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    consumed = 0  # bytes handed to the decoder before the current chunk
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            final = not chunk
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # exc positions count from the start of (pending bytes + chunk)
                offset = consumed - len(pending) + exc.start
                bad = exc.object[exc.start : exc.start + 4]
                raise _decode_error(path, encoding, offset, bad) from None
            if sink is not None and text:
                sink(text)
            if final:
                return
            consumed += len(chunk)


def find_decode_error(path: Path, encoding: str) -> None:
    """Raise the :class:`UserError` for the first undecodable byte of ``path``, if any."""
    _stream_decode(Path(path), encoding)


def transcode_to_utf8(
    path: Path, encoding: str, target: Path, pool: Executor | None = None
) -> Path:
    """Write ``path`` (in ``encoding``) to ``target`` as UTF-8, streaming; return ``target``.

    With ``pool`` (:func:`decode_pool`), a file of at least :data:`PARALLEL_MIN_BYTES` in
    a :data:`SPLITTABLE` encoding is cut after newlines (:func:`piece_bounds`) and its
    pieces are decoded by the pool's processes, at most ``DECODE_WORKERS *
    PIECES_PER_WORKER`` at a time, and written in file order: the same bytes as the
    streaming decoder, and on bad bytes the same error (the first bad byte of the first
    piece holding one is the file's first).
    """
    path = Path(path)
    if pool is None or encoding not in SPLITTABLE or file_size(path) < PARALLEL_MIN_BYTES:
        with open(target, "w", encoding="utf-8", newline="") as out:
            _stream_decode(path, encoding, out.write)
        return target
    window = DECODE_WORKERS * PIECES_PER_WORKER
    pending: deque = deque()
    with open(target, "wb") as out:
        try:
            for start, stop in piece_bounds(path, CHUNK_BYTES):
                pending.append(pool.submit(decode_piece, str(path), encoding, start, stop))
                if len(pending) >= window:
                    _write_piece(out, pending.popleft().result(), path, encoding)
            while pending:
                _write_piece(out, pending.popleft().result(), path, encoding)
        finally:
            for future in pending:
                future.cancel()
    return target


def _write_piece(out, piece: bytes | int, path: Path, encoding: str) -> None:
    """Write one decoded piece, or raise the error at the byte offset it gives instead."""
    if isinstance(piece, bytes):
        out.write(piece)
        return
    with path.open("rb") as handle:
        handle.seek(piece)
        raise _decode_error(path, encoding, piece, handle.read(4))


def file_size(path: Path) -> int:
    """Bytes of a local file (0 when it cannot be stat'ed)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def piece_bounds(path: Path, piece_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, stop)`` covering ``path`` in order, each ending just after a
    newline (the last at the end of the file), each at least ``piece_bytes`` long but the
    last; a line longer than that stays whole in one piece."""
    size = path.stat().st_size
    bounds, start = [], 0
    with path.open("rb") as handle:
        while start < size:
            handle.seek(min(start + piece_bytes, size) - 1)
            stop = None
            while stop is None:
                block = handle.read(1 << 16)
                if not block:
                    stop = size
                elif (cut := block.find(b"\n")) >= 0:
                    stop = handle.tell() - len(block) + cut + 1
            bounds.append((start, stop))
            start = stop
    return bounds


def decode_piece(path: str, encoding: str, start: int, stop: int) -> bytes | int:
    """Bytes ``[start, stop)`` of ``path`` decoded from ``encoding`` and encoded as UTF-8,
    or, when they do not decode, the file offset of the first bad byte (run in a pool's
    process: an int crosses back more cheaply than an exception)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    try:
        return data.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        return start + exc.start


def decode_pool(paths, encoding: str) -> ProcessPoolExecutor | None:
    """A pool for :func:`transcode_to_utf8` when one of ``paths`` is worth it (at least
    :data:`PARALLEL_MIN_BYTES` in a :data:`SPLITTABLE` encoding), else None.

    Its processes are spawned, not forked: the caller runs DuckDB threads meanwhile.
    """
    if encoding not in SPLITTABLE or not any(file_size(p) >= PARALLEL_MIN_BYTES for p in paths):
        return None
    workers = min(DECODE_WORKERS, os.cpu_count() or 1)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
