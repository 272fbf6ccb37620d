"""RunStorage against a real Azurite: account-key SAS end to end, script upload, download."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from fleet.blobs import RunStorage
from fleet.errors import StorageError, UsageError
from fleet_sim.azurite import Azurite


def _later(minutes: int = 30) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


@pytest.fixture
async def storage(azurite: Azurite, request: pytest.FixtureRequest) -> AsyncIterator[RunStorage]:
    run_id = f"20261125-it-{request.node.name[-20:]}".replace("_", "-")
    async with RunStorage.from_connection_string(azurite.connection_string, run_id=run_id) as store:
        await store.prepare()
        yield store


async def _append(url: str, *parts: bytes) -> None:
    async with BlobClient.from_blob_url(url) as blob:
        await blob.create_append_blob()
        for part in parts:
            await blob.append_block(part)


async def test_prepare_is_idempotent_and_creates_the_container(
    azurite: Azurite, storage: RunStorage
) -> None:
    await storage.prepare()  # second time: no error
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        names = [c.name async for c in service.list_containers()]
    assert storage.container in names


async def test_racw_sas_lets_the_agent_write_and_read_only_that_blob(storage: RunStorage) -> None:
    url = storage.blob_sas_url("web-01/step1/a1.out", expires_at=_later())
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["racw"] and query["sr"] == ["b"]
    await _append(url, b"hello ", b"world\n")
    async with BlobClient.from_blob_url(url) as blob:
        assert await (await blob.download_blob()).readall() == b"hello world\n"
    # The same signature on another blob's path must be refused.
    other = url.replace("web-01/step1/a1.out", "web-02/step1/a1.out")
    async with BlobClient.from_blob_url(other) as blob:
        with pytest.raises(HttpResponseError) as refused:
            await blob.create_append_blob()
    assert refused.value.status_code == 403


async def test_script_upload_gives_a_read_only_link(storage: RunStorage) -> None:
    script = "#!/bin/sh\necho 'héllo'\n" * 10
    url = await storage.upload_script("scripts/install.sh", script, expires_at=_later())
    assert parse_qs(urlsplit(url).query)["sp"] == ["r"]
    async with BlobClient.from_blob_url(url) as blob:
        assert await (await blob.download_blob()).readall() == script.encode()
        with pytest.raises(HttpResponseError) as refused:
            await blob.upload_blob(b"evil", overwrite=True)
    assert refused.value.status_code == 403


async def test_download_whole_blob(storage: RunStorage, tmp_path: Path) -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(100))
    await _append(storage.blob_sas_url("m1/s/a1.out", expires_at=_later()), data[:300], data[300:])
    dest = tmp_path / "output" / "m1" / "s.out"
    capture = await storage.download("m1/s/a1.out", dest, max_bytes=1 << 20, relative_to=tmp_path)
    assert dest.read_bytes() == data
    assert capture.source == "blob"
    assert capture.path == "output/m1/s.out"
    assert capture.size_bytes == len(data)
    assert capture.sha256 == hashlib.sha256(data).hexdigest()
    assert not capture.truncated
    assert capture.excerpt.splitlines() == [f"line {i}" for i in range(80, 100)]


async def test_download_is_capped_and_keeps_the_tail(storage: RunStorage, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    await _append(storage.blob_sas_url("m2/s/a1.out", expires_at=_later()), data)
    dest = tmp_path / "m2.out"
    capture = await storage.download("m2/s/a1.out", dest, max_bytes=1000)
    assert dest.read_bytes() == data[-1000:]
    assert capture.size_bytes == len(data)
    assert capture.truncated
    assert capture.sha256 == hashlib.sha256(data[-1000:]).hexdigest()
    assert capture.path == str(dest)


async def test_download_utf16_powershell_output_tail(storage: RunStorage, tmp_path: Path) -> None:
    text = "".join(f"Zeile {i}: grüß\r\n" for i in range(500))
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    await _append(storage.blob_sas_url("win/s/a1.out", expires_at=_later()), data)
    capture = await storage.download("win/s/a1.out", tmp_path / "w.out", max_bytes=3001)
    assert capture.truncated
    assert capture.excerpt.splitlines()[-1] == "Zeile 499: grüß"


async def test_missing_and_empty_blobs(storage: RunStorage, tmp_path: Path) -> None:
    missing = await storage.download("nope/s/a1.err", tmp_path / "x.err", max_bytes=100)
    assert (missing.source, missing.size_bytes, missing.path) == ("blob", 0, None)
    assert not (tmp_path / "x.err").exists()
    await _append(storage.blob_sas_url("empty/s/a1.out", expires_at=_later()))
    empty = await storage.download("empty/s/a1.out", tmp_path / "e.out", max_bytes=100)
    assert (empty.size_bytes, empty.truncated, empty.excerpt) == (0, False, "")
    assert empty.sha256 == hashlib.sha256(b"").hexdigest()
    assert (tmp_path / "e.out").read_bytes() == b""


async def test_storage_errors_are_translated_and_redacted(azurite: Azurite, tmp_path: Path) -> None:
    # A well-formed key that is not the account's: Azurite refuses every signed request.
    bad_key = "A" * 86 + "=="
    real_key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    conn = azurite.connection_string.replace(real_key, bad_key)
    async with RunStorage.from_connection_string(conn, run_id="bad-key-run") as store:
        with pytest.raises(StorageError) as raised:
            await store.prepare()
    message = str(raised.value)
    assert message.startswith("creating container fleet-bad-key-run failed")
    assert bad_key not in message and "AccountKey" not in message


def test_connection_string_without_a_key_is_a_usage_error(azurite: Azurite) -> None:
    conn = f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature=sv=2020&sig=SECRET"
    with pytest.raises(UsageError) as raised:
        RunStorage.from_connection_string(conn, run_id="r1")
    assert "SECRET" not in str(raised.value)
