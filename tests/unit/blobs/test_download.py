from __future__ import annotations

import codecs
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleet.blobs.download import capture_from_text, write_capped
from fleet.errors import StorageError


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_cap_stops_mid_chunk(tmp_path: Path) -> None:
    dest = tmp_path / "o" / "x.out"
    capture = await write_capped(
        _chunks(b"abcd", b"efgh", b"ijkl"), dest, total_size=12, kept_from=0, max_bytes=6,
        relative_to=tmp_path,
    )
    assert dest.read_bytes() == b"abcdef"
    assert (capture.size_bytes, capture.truncated, capture.path) == (12, True, "o/x.out")
    assert capture.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert not (tmp_path / "o" / "x.out.part").exists()


async def test_stream_that_grew_counts_its_real_size(tmp_path: Path) -> None:
    capture = await write_capped(
        _chunks(b"12345"), tmp_path / "x", total_size=3, kept_from=0, max_bytes=10
    )
    assert (capture.size_bytes, capture.truncated) == (5, False)


async def test_excerpt_of_a_long_utf16_stream_keeps_the_bom_hint(tmp_path: Path) -> None:
    text = "".join(f"ligne {i} é\r\n" for i in range(3000))
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    capture = await write_capped(
        _chunks(data[:777], data[777:]), tmp_path / "w", total_size=len(data), kept_from=0,
        max_bytes=len(data),
    )
    assert capture.excerpt.splitlines()[-1] == "ligne 2999 é"
    assert len(capture.excerpt.splitlines()) == 20


async def test_failed_stream_leaves_no_file(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise StorageError("downloading blob x failed")

    with pytest.raises(StorageError):
        await write_capped(broken(), tmp_path / "x", total_size=100, kept_from=0, max_bytes=100)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


def test_capture_from_instance_view_text(tmp_path: Path) -> None:
    capture = capture_from_text("done\n", tmp_path / "o" / "a.out", relative_to=tmp_path)
    assert capture.source == "instance_view" and capture.path == "o/a.out"
    assert (tmp_path / "o" / "a.out").read_text() == "done\n"
    assert capture.excerpt == "done" and not capture.truncated
    full = capture_from_text("x" * 4096, tmp_path / "b.out")
    assert full.truncated
    none = capture_from_text(None, tmp_path / "c.out")
    assert none.source == "none" and none.path is None and not (tmp_path / "c.out").exists()
