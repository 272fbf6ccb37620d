"""The simulated agent's append-blob writer retries what got no answer or a transient one, as
an agent's storage client does, and never appends a block twice: a loopback proxy in front of a
real Azurite loses answers (after the write landed, or before) and the blob must hold each byte
once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from fleet_sim.azurite import Azurite
from fleet_sim.blobwriter import RETRY_BACKOFF_S, AppendBlobWriter
from fleet_sim.stats import SimStats
from tests.sim.agent_helpers import Store, new_store

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Spoil:
    landed_then_lost: int = 0  # the first N appends reach Azurite, then the answer is a 503
    lost_before: int = 0  # the next N appends are answered 503 without reaching Azurite
    appends_seen: int = 0


@pytest.fixture
async def store(azurite: Azurite) -> Store:
    return await new_store(azurite, "writer")


@pytest.fixture
async def proxy(azurite: Azurite) -> AsyncIterator[tuple[str, Spoil]]:
    spoil = Spoil()
    upstream = f"http://{azurite.host}:{azurite.port}"
    session = aiohttp.ClientSession(auto_decompress=False)

    async def handle(request: web.Request) -> web.StreamResponse:
        append = request.method == "PUT" and "comp=appendblock" in request.query_string
        if append:
            spoil.appends_seen += 1
            if spoil.landed_then_lost < spoil.appends_seen <= spoil.landed_then_lost + spoil.lost_before:
                await request.read()
                return web.Response(status=503, headers={"x-ms-error-code": "ServerBusy"})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = URL(f"{upstream}{request.raw_path}", encoded=True)
        async with session.request(request.method, url, headers=headers, data=await request.read(),
                                   skip_auto_headers=("Content-Type", "User-Agent")) as answer:
            data = await answer.read()
            if append and spoil.appends_seen <= spoil.landed_then_lost:
                return web.Response(status=503, headers={"x-ms-error-code": "ServerBusy"})
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            return web.Response(status=answer.status, headers=out, body=data)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", spoil
    finally:
        await runner.cleanup()
        await session.close()


async def _no_wait(seconds: float) -> None:
    return None


async def _write(store: Store, base: str, blob: str, parts: list[bytes]) -> AppendBlobWriter:
    direct = store.sas_url(blob)
    via_proxy = base + direct[len(f"http://{store.azurite.host}:{store.azurite.port}"):]
    async with aiohttp.ClientSession() as session:
        writer = AppendBlobWriter(session, via_proxy, label="output", block_bytes=5,
                                  sleep=_no_wait)
        await writer.create()
        for part in parts:
            await writer.append(part)
    return writer


async def test_an_append_whose_answer_was_lost_after_it_landed_is_not_appended_again(
    store: Store, proxy: tuple[str, Spoil]
) -> None:
    base, spoil = proxy
    spoil.landed_then_lost = 2
    writer = await _write(store, base, "landed.txt", [b"hello", b" world", b"!\n"])
    assert writer.failure is None
    assert await store.read("landed.txt") == b"hello world!\n"
    assert spoil.appends_seen > 4  # the two lost answers were retried


async def test_an_append_that_never_landed_is_sent_again_once(
    store: Store, proxy: tuple[str, Spoil]
) -> None:
    base, spoil = proxy
    spoil.lost_before = 3
    writer = await _write(store, base, "lost.txt", [b"abcdefghij", b"klm"])
    assert writer.failure is None
    assert await store.read("lost.txt") == b"abcdefghijklm"


async def test_a_write_that_keeps_failing_gives_up_after_the_retries(
    store: Store, proxy: tuple[str, Spoil], caplog: pytest.LogCaptureFixture
) -> None:
    base, spoil = proxy
    spoil.lost_before = 1000
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    direct = store.sas_url("down.txt")
    url = base + direct[len(f"http://{store.azurite.host}:{store.azurite.port}"):]
    async with aiohttp.ClientSession() as session:
        counters = SimStats()
        writer = AppendBlobWriter(session, url, label="output", block_bytes=5, sleep=sleep,
                                  retry_backoff_s=(0.1, 0.2), machine="arc-lnx-web-0007",
                                  counters=counters)
        await writer.create()
        await writer.append(b"0123456789")
    assert waits == [0.1, 0.2]  # two retries of the first block, then no more writes
    assert writer.failure is not None and "503" in writer.failure and "sig=" not in writer.failure
    assert await store.read("down.txt") == b""
    # The test bed's lost write is in its log (machine and stream, never the SAS) and counted.
    lost = [r.getMessage() for r in caplog.records if "blob write failed" in r.getMessage()]
    assert len(lost) == 1
    assert "arc-lnx-web-0007" in lost[0] and "output" in lost[0] and "3 attempt" in lost[0]
    assert "sig=" not in caplog.text and "se=" not in caplog.text
    storage = counters.as_json()["storage"]
    assert storage == {"creates": 1, "appends": 1, "retries": 2, "landed_on_retry": 0,
                       "failed": 1, "failed_by_stream": {"output": 1}}


def test_the_default_retry_budget_outlasts_a_saturated_emulator() -> None:
    # A write is given up only after minutes of waiting: a storage emulator at 100 % of a core
    # drains a backlog of thousands of writes within that (real Azure would not refuse them).
    assert sum(RETRY_BACKOFF_S) >= 100
    assert max(RETRY_BACKOFF_S) <= 15  # retries keep coming while it drains
    assert list(RETRY_BACKOFF_S) == sorted(RETRY_BACKOFF_S)
