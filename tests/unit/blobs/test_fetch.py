"""Output reads with plain GETs (fleet.blobs.fetch): what is asked of storage, what is kept,
and what never leaks. The transport is a fake at the typed seam (``Transport``); the same
reads against a real Azurite are in tests/integration/test_blobs_azurite.py."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fleet.arm.transport import TransportFailure, TransportResponse
from fleet.blobs.fetch import fetch_capped
from fleet.blobs.store import RunStorage
from fleet.errors import StorageError
from tests.unit.blobs.test_sas import NOW, _FakeService

SIG = "c2VjcmV0LXNpZw"


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]


@dataclass
class BlobServer:
    """Answers ranged GETs of one blob like Blob storage does (206 + Content-Range, 416 on an
    empty blob, 404 when missing); ``script`` answers (or failures) come first."""

    data: bytes | None
    etag: str = '"0x8DCETAG"'
    script: list[TransportResponse | Exception] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)

    async def request(self, method: str, url: str, *, headers: Mapping[str, str],
                      body: bytes | None = None, timeout_s: float) -> TransportResponse:
        self.seen.append(Request(method, url, dict(headers)))
        if self.script:
            outcome = self.script.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        if self.data is None:
            return TransportResponse(404, {"x-ms-error-code": "BlobNotFound"})
        if method == "HEAD":
            return TransportResponse(200, {"content-length": str(len(self.data))})
        if headers.get("if-match", self.etag) != self.etag:
            return TransportResponse(412, {"x-ms-error-code": "ConditionNotMet"})
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", headers["x-ms-range"])
        assert match is not None
        start, end = int(match.group(1)), int(match.group(2))
        if start >= len(self.data):
            return TransportResponse(416, {"x-ms-error-code": "InvalidRange"})
        part = self.data[start : end + 1]
        return TransportResponse(206, {
            "content-range": f"bytes {start}-{start + len(part) - 1}/{len(self.data)}",
            "etag": self.etag}, part)

    async def aclose(self) -> None:
        pass


def signer() -> tuple[Callable[[], str], list[str]]:
    made: list[str] = []

    def sign() -> str:
        made.append(f"https://acct.blob.core.windows.net/c/m/s.out?sp=r&sr=b&sig={SIG}{len(made)}")
        return made[-1]

    return sign, made


async def test_a_whole_output_is_one_ranged_get_with_its_own_signature(tmp_path: Path) -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(50))
    server, (sign, made) = BlobServer(data), signer()
    capture = await fetch_capped(server, sign, "m/s.out", tmp_path / "o" / "s.out",
                                 max_bytes=1 << 20, relative_to=tmp_path)
    assert [(r.method, r.headers["x-ms-range"]) for r in server.seen] == [("GET", "bytes=0-1048575")]
    assert [r.url for r in server.seen] == made
    assert (tmp_path / "o" / "s.out").read_bytes() == data
    assert (capture.source, capture.path, capture.size_bytes, capture.truncated) == (
        "blob", "o/s.out", len(data), False)
    assert capture.sha256 == hashlib.sha256(data).hexdigest()


async def test_a_blob_over_the_cap_keeps_its_tail_read_in_chunks_of_one_version(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes
    server, (sign, made) = BlobServer(data), signer()
    capture = await fetch_capped(server, sign, "m/s.out", tmp_path / "x", max_bytes=3000,
                                 first_bytes=1000, chunk_bytes=1024)
    assert (tmp_path / "x").read_bytes() == data[-3000:]
    assert (capture.size_bytes, capture.truncated) == (10240, True)
    ranges = [r.headers["x-ms-range"] for r in server.seen]
    assert ranges == ["bytes=0-999", "bytes=7240-8263", "bytes=8264-9287", "bytes=9288-10239"]
    assert all(r.headers["if-match"] == server.etag for r in server.seen[1:])
    assert len(set(made)) == 4  # a fresh signature per request


async def test_a_blob_that_changes_mid_read_fails_the_read(tmp_path: Path) -> None:
    data = b"x" * 5000
    server, (sign, _) = BlobServer(data), signer()
    server.script.append(TransportResponse(206, {"content-range": "bytes 0-999/5000",
                                                 "etag": '"other"'}, data[:1000]))
    with pytest.raises(StorageError, match="412"):
        await fetch_capped(server, sign, "m/s.out", tmp_path / "x", max_bytes=10_000,
                           first_bytes=1000, chunk_bytes=1000)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


async def test_missing_and_empty_blobs(tmp_path: Path) -> None:
    sign, _ = signer()
    missing = await fetch_capped(BlobServer(None), sign, "m/s.err", tmp_path / "m", max_bytes=100)
    assert (missing.source, missing.size_bytes, missing.path) == ("blob", 0, None)
    assert not (tmp_path / "m").exists()
    empty = await fetch_capped(BlobServer(b""), sign, "m/s.out", tmp_path / "e", max_bytes=100)
    assert (empty.source, empty.size_bytes, empty.sha256) == ("blob", 0, hashlib.sha256(b"").hexdigest())
    assert (tmp_path / "e").read_bytes() == b""


async def test_a_zero_cap_asks_only_for_the_size(tmp_path: Path) -> None:
    server, (sign, _) = BlobServer(b"12345"), signer()
    capture = await fetch_capped(server, sign, "m/s.out", tmp_path / "z", max_bytes=0)
    assert [r.method for r in server.seen] == ["HEAD"]
    assert (capture.size_bytes, capture.truncated) == (5, True)


@pytest.mark.parametrize("failure", [
    TransportResponse(503, {"x-ms-error-code": "ServerBusy"}),
    TransportResponse(403, {"x-ms-error-code": f"sig={SIG} <evil>\x1b[31m"}),
    TransportFailure(f"timeout on GET https://a/c/b?sig={SIG}", maybe_sent=True),
])
async def test_failures_name_the_blob_never_the_signature(tmp_path: Path, failure: Any) -> None:
    server, (sign, _) = BlobServer(b"data"), signer()
    server.script += [failure, failure]
    if isinstance(failure, TransportFailure):
        failure.__cause__ = TimeoutError()
    with pytest.raises(StorageError) as raised:
        await fetch_capped(server, sign, "m/s.out", tmp_path / "f", max_bytes=100)
    message = str(raised.value)
    assert message.startswith("reading blob m/s.out failed: ")
    assert SIG not in message and "sig=" not in message and "\x1b" not in message
    error = raised.value  # no chained error that could carry the URL into a traceback
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert len(server.seen) == 1  # a timeout or an answer waits for the caller's backoff


async def test_a_dropped_connection_is_tried_once_more_at_once(tmp_path: Path) -> None:
    dropped = TransportFailure("connection lost on GET https://a/c/b?sig=***", maybe_sent=True)
    server, (sign, _) = BlobServer(b"data"), signer()
    server.script.append(dropped)
    capture = await fetch_capped(server, sign, "m/s.out", tmp_path / "d", max_bytes=100)
    assert capture.size_bytes == 4 and len(server.seen) == 2
    server.script += [dropped, dropped]
    with pytest.raises(StorageError, match="connection failed or lost"):
        await fetch_capped(server, sign, "m/s.out", tmp_path / "d", max_bytes=100)


async def test_storage_reads_with_a_read_only_sas_for_that_blob(tmp_path: Path) -> None:
    """Account key: every read is signed ``sp=r``, ``sr=b`` for the blob read, 15 minutes."""
    service: Any = _FakeService()
    server = BlobServer(b"hello\n")
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    async with RunStorage(service, run_id="r-1", account_key=key, clock=lambda: NOW,
                          reads=server) as store:
        await store.download("web-01/apply/a1.out", tmp_path / "o", max_bytes=100)
    (request,) = server.seen
    parts = urlsplit(request.url)
    assert parts.path == "/fleet-r-1/web-01/apply/a1.out"
    q = parse_qs(parts.query)
    assert q["sp"] == ["r"] and q["sr"] == ["b"]
    assert datetime.fromisoformat(q["se"][0].replace("Z", "+00:00")) == NOW + timedelta(minutes=15)


async def test_entra_storage_reads_a_finished_run_without_preparing_it(tmp_path: Path) -> None:
    """``fleet report --recollect`` reads without prepare(): the user delegation key is fetched
    on the first read, and no container is created."""
    service: Any = _FakeService()
    server = BlobServer(b"hello\n")
    async with RunStorage(service, run_id="r-1", account_key=None, clock=lambda: NOW,
                          reads=server) as store:
        await store.download("m/s.out", tmp_path / "a", max_bytes=100)
        await store.download("m/s.err", tmp_path / "b", max_bytes=100)
    assert [c.split()[0] for c in service.calls] == ["udk", "close"]
    q = parse_qs(urlsplit(server.seen[0].url).query)
    assert q["sp"] == ["r"] and "skoid" in q
    assert (tmp_path / "a").read_bytes() == b"hello\n"


class _YieldingService(_FakeService):
    """A key fetch that yields to the loop, as a real one does, so concurrent reads overlap it."""

    async def get_user_delegation_key(self, start: datetime, expiry: datetime) -> Any:
        await asyncio.sleep(0)
        return await super().get_user_delegation_key(start, expiry)


async def test_concurrent_first_reads_fetch_the_user_delegation_key_once(tmp_path: Path) -> None:
    service: Any = _YieldingService()
    server = BlobServer(b"hello\n")
    async with RunStorage(service, run_id="r-1", account_key=None, clock=lambda: NOW,
                          reads=server) as store:
        await asyncio.gather(*(store.download(f"m{i}/s.out", tmp_path / f"o{i}", max_bytes=100)
                               for i in range(5)))
    assert [c.split()[0] for c in service.calls] == ["udk", "close"]
    assert len(server.seen) == 5
