"""A loopback HTTP proxy in front of Azurite that can spoil fleet's blob *reads* (GET) while
the simulated agents' writes (PUT) pass: the fault row "slow and failing blob reads"."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import ClientSession, web
from yarl import URL

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class ReadFaults:
    fail_first: int = 0  # per blob: answer the first N reads with 403
    empty_first: int = 0  # per blob: answer the first N reads as an empty blob (416 on a range)
    outage: bool = False  # every read fails (403) while set
    delay_s: float = 0.0  # every read waits this long first
    stall_first: int = 0  # per blob: the first N reads wait stall_s before their answer
    stall_s: float = 0.0
    reads: Counter[str] = field(default_factory=Counter)


class BlobProxy:
    def __init__(self, upstream: str, faults: ReadFaults) -> None:
        self._upstream = upstream.rstrip("/")  # http://127.0.0.1:PORT
        self.faults = faults
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    async def __aenter__(self) -> BlobProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._session = ClientSession(auto_decompress=False)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        faults = self.faults
        if request.method == "GET" and "comp=" not in request.query_string:
            blob = request.path
            faults.reads[blob] += 1
            seen = faults.reads[blob]
            if faults.delay_s:
                await asyncio.sleep(faults.delay_s)
            if seen <= faults.stall_first:
                await asyncio.sleep(faults.stall_s)  # a read that outlasts the client's timeout
            if faults.outage or seen <= faults.fail_first:
                return web.Response(status=403, headers={"x-ms-error-code": "AuthorizationFailure"},
                                    text="<Error><Code>AuthorizationFailure</Code></Error>")
            if seen <= faults.fail_first + faults.empty_first:
                return web.Response(status=416, headers={"x-ms-error-code": "InvalidRange"},
                                    text="<Error><Code>InvalidRange</Code></Error>")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        url = URL(f"{self._upstream}{request.raw_path}", encoded=True)  # signed: keep it byte for byte
        async with self._session.request(
            request.method, url, headers=headers, data=body,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as upstream:
            data = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            return web.Response(status=upstream.status, headers=out, body=data)
