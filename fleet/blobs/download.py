"""Write an output stream to the run folder: streamed, capped, hashed, excerpted.

A blob larger than the cap keeps its **tail** (the last ``max_bytes``), like instanceView keeps
the last 4 KB: the end of a script's output is where it says why it failed. ``size_bytes`` is
the size of the whole stream, ``sha256`` is the hash of the bytes kept in the file (so the file
can be verified, and identical outputs group together), ``truncated`` says bytes were dropped.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import hashlib
import os
from collections.abc import AsyncIterable
from pathlib import Path

from fleet.blobs.decode import decode_output, excerpt_of
from fleet.redact import SecretMask
from fleet.types import CaptureSource, StreamCapture

__all__ = [
    "INSTANCE_VIEW_LIMIT_BYTES",
    "capture_from_text",
    "display_path",
    "mask_kept_output",
    "write_capped",
]

INSTANCE_VIEW_LIMIT_BYTES = 4096
# How much of the end of a stream is decoded for the excerpt: 20 lines fit in far less.
_EXCERPT_WINDOW = 16 * 1024


def display_path(dest: Path, relative_to: Path | None) -> str:
    """``dest`` as stored in a capture: relative to the run folder when given, POSIX style."""
    if relative_to is None:
        return str(dest)
    # The run's own paths are built from the run folder: a lexical answer is the answer, and
    # it spares two realpath walks (an lstat per component) per file.
    with contextlib.suppress(ValueError):
        relative = dest.relative_to(relative_to)
        if ".." not in relative.parts:
            return relative.as_posix()
    return dest.resolve().relative_to(relative_to.resolve()).as_posix()


def _excerpt_from(head: bytes, tail: bytes, tail_offset: int) -> str:
    """Decode the end of a stream; if the file began with a UTF-16 BOM and the window starts
    later, realign to a code unit and put the BOM back so the decoder knows."""
    if tail_offset > 0 and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if tail_offset % 2:
            tail = tail[1:]
        tail = head[:2] + tail
    elif tail_offset > 0 and head.startswith(codecs.BOM_UTF8):
        tail = codecs.BOM_UTF8 + tail
    return excerpt_of(decode_output(tail))


async def write_capped(
    chunks: AsyncIterable[bytes],
    dest: Path,
    *,
    total_size: int,
    kept_from: int,
    relative_to: Path | None = None,
    max_bytes: int,
) -> StreamCapture:
    """Write ``chunks`` (the stream from offset ``kept_from`` on) to ``dest``, at most
    ``max_bytes`` of it, and describe it. ``total_size`` is the whole stream's size."""
    digest = hashlib.sha256()
    written = 0
    head = b""
    window = bytearray()
    tmp = dest.with_name(dest.name + ".part")
    try:
        with os.fdopen(_open_private(tmp), "wb") as out:
            async for chunk in chunks:
                room = max_bytes - written
                if room <= 0:
                    break
                piece = bytes(chunk[:room])
                out.write(piece)
                digest.update(piece)
                if len(head) < 4:
                    head += piece[: 4 - len(head)]
                window += piece
                if len(window) > 2 * _EXCERPT_WINDOW:
                    del window[: len(window) - _EXCERPT_WINDOW]
                written += len(piece)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half file left behind when the download fails
        raise
    os.replace(tmp, dest)  # a half-written file never carries the final name
    window_bytes = bytes(window[-_EXCERPT_WINDOW:])
    window_offset = written - len(window_bytes)
    size = max(total_size, kept_from + written)
    return StreamCapture(
        source="blob",
        path=display_path(dest, relative_to),
        size_bytes=size,
        sha256=digest.hexdigest(),
        truncated=written < size,
        excerpt=_excerpt_from(head, window_bytes, window_offset),
    )


def _open_private(path: Path) -> int:
    """Open ``path`` for writing, owner only (0600), making its folder (0700) only when it is
    missing: the caller usually made it already, and a mkdir per file is a syscall per file."""
    flags = os.O_CREAT | os.O_TRUNC | os.O_WRONLY
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(path, flags, 0o600)


def _write_private(path: Path, data: bytes) -> None:
    """Output files are their owner's only (0600), like everything in a run folder."""
    with os.fdopen(_open_private(path), "wb") as out:
        out.write(data)
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_TRUNC


def capture_from_text(
    text: str | None, dest: Path, *, relative_to: Path | None = None,
    source: CaptureSource = "instance_view",
) -> StreamCapture:
    """Keep ``text`` as UTF-8 in ``dest``. ``source="blob"`` when the text is known to be the
    whole blob (an empty stderr: instanceView keeps the tail, so empty there is empty in the
    blob, and storage was used). Otherwise the instanceView fallback (no storage): keep ARM's text as UTF-8 in ``dest``. ``None``
    means ARM gave nothing: ``source="none"``, no file. Text that reaches ARM's 4 KB limit is
    marked truncated, since ARM keeps only the last 4 KB."""
    if text is None:
        return StreamCapture(source="none")
    data = text.encode("utf-8", "replace")
    _write_private(dest, data)
    return StreamCapture(
        source=source,
        path=display_path(dest, relative_to),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=len(data) >= INSTANCE_VIEW_LIMIT_BYTES,
        excerpt=excerpt_of(text),
    )


def mask_kept_output(capture: StreamCapture, run_dir: Path,
                     mask: SecretMask) -> tuple[StreamCapture, bytes | None]:
    """The kept output file with every secret ``mask`` knows (and every token-shaped string)
    masked in place, so ``output/`` is as clean as the reports; the capture's hash and excerpt
    describe the masked bytes. Returns the capture and the kept bytes (None: no file)."""
    if capture.source == "none" or not capture.path:
        return capture, None
    if capture.size_bytes == 0:
        return capture, b""  # an empty file holds nothing to mask: not read back
    path = run_dir / capture.path
    data = path.read_bytes()
    masked = mask.mask_bytes(data)
    if masked == data:
        return capture, data
    tmp = path.with_name(path.name + ".part")
    _write_private(tmp, masked)
    os.replace(tmp, path)
    window = masked[-_EXCERPT_WINDOW:]
    excerpt = _excerpt_from(masked[:4], window, len(masked) - len(window))
    return dataclasses.replace(capture, sha256=hashlib.sha256(masked).hexdigest(),
                               excerpt=excerpt), masked
