"""Decoding extracts: DuckDB reads UTF-8 only, so anything else is transcoded first.

A GB18030/GBK/Latin-1 file is decoded in fixed-size chunks with an incremental decoder
(constant memory whatever the file size) and written as UTF-8 to a temporary file. A byte
sequence that does not decode becomes a :class:`~kequn.errors.UserError` naming the file,
the byte offset and encodings to try.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from kequn.errors import UserError

CHUNK_BYTES = 16 * 1024 * 1024

#: codecs DuckDB reads natively (its CSV reader strips a UTF-8 byte-order mark itself)
NATIVE = ("utf-8", "utf-8-sig")

#: what to suggest, in order, when a file does not decode
SUGGESTIONS = ("utf-8", "gb18030", "latin-1")


def normalise_encoding(name: str) -> str:
    """Python's canonical name of an encoding (``"GBK"`` -> ``"gbk"``); ValueError if unknown."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None


def _decode_error(path: Path, encoding: str, offset: int, exc: UnicodeDecodeError) -> UserError:
    bad = exc.object[exc.start : exc.start + 4].hex(" ")
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
                raise _decode_error(
                    path, encoding, consumed - len(pending) + exc.start, exc
                ) from None
            if sink is not None and text:
                sink(text)
            if final:
                return
            consumed += len(chunk)


def find_decode_error(path: Path, encoding: str) -> None:
    """Raise the :class:`UserError` for the first undecodable byte of ``path``, if any."""
    _stream_decode(Path(path), encoding)


def transcode_to_utf8(path: Path, encoding: str, target: Path) -> Path:
    """Write ``path`` (in ``encoding``) to ``target`` as UTF-8, streaming; return ``target``."""
    with open(target, "w", encoding="utf-8", newline="") as out:
        _stream_decode(Path(path), encoding, out.write)
    return target
