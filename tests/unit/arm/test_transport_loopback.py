"""The real transport over loopback HTTP(S), against a tiny aiohttp server in this file."""

from __future__ import annotations

import gc
import socket
import ssl
from asyncio import sslproto
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from fleet.arm.client import ArmClient
from fleet.arm.credentials import build_credential
from fleet.arm.retry import RetryPolicy
from fleet.arm.transport import TLS_READ_BUFFER_BYTES, TransportFailure, make_transport
from fleet.errors import UsageError
from fleet.types import MachineRef
from tests.unit.arm.fakes import FakeClock

SUB = "sub-1"
M = MachineRef(subscription_id=SUB, resource_group="rg", name="m1")
FAST = RetryPolicy(
    initial_backoff_s=0.01, max_backoff_s=0.01, max_attempts=3, deadline_s=30, request_timeout_s=5
)


@dataclass
class FakeArm:
    """Just enough of ARM for the client: run commands in a dict, one optional fault."""

    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    puts: int = 0
    drop_first_put: bool = False
    auth_seen: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.auth_seen.append(request.headers.get("Authorization", ""))
        name = request.match_info["name"]
        if request.method == "PUT":
            self.puts += 1
            body = await request.json()
            self.commands[name] = {
                "name": name,
                "properties": {"provisioningState": "Creating", **body["properties"]},
            }
            if self.drop_first_put and self.puts == 1:
                # The server acted on it, then the connection died before the answer.
                assert request.transport is not None
                request.transport.abort()
                return web.Response(status=500)
            return web.json_response(
                self.commands[name],
                status=201,
                headers={"x-ms-ratelimit-remaining-subscription-writes": "199"},
            )
        if request.method == "DELETE":
            self.commands.pop(name, None)
            return web.Response(status=204)
        if name in self.commands:
            return web.json_response(self.commands[name])
        return web.json_response(
            {"error": {"code": "ResourceNotFound", "message": "no"}}, status=404
        )


async def serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def arm_app(fake: FakeArm) -> web.Application:
    app = web.Application()
    path = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{m}/runCommands/{name}"
    app.router.add_route("*", path, fake.handle)
    app.router.add_get("/redirect", _redirect)
    return app


async def _redirect(_: web.Request) -> web.Response:
    return web.Response(status=307, headers={"Location": "http://127.0.0.2/elsewhere"})


@pytest.fixture
async def http_arm() -> AsyncIterator[tuple[FakeArm, str]]:
    fake = FakeArm()
    runner, port = await serve(arm_app(fake))
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def client_for(
    endpoint: str, ca_file: str | None = None, clock: FakeClock | None = None
) -> ArmClient:
    return ArmClient(
        endpoint=endpoint,
        transport=make_transport(ca_file=ca_file, endpoint=endpoint),
        credential=build_credential("dev", endpoint=endpoint, ca_file=ca_file),
        retry=FAST,
        clock=clock,
    )


async def test_round_trip_over_loopback_http_with_the_dev_credential(
    http_arm: tuple[FakeArm, str],
) -> None:
    fake, endpoint = http_arm
    client = client_for(endpoint)
    try:
        created = await client.put_run_command(
            M, "rc1", {"location": "x", "properties": {"asyncExecution": False}}
        )
        assert created.provisioning_state == "Creating"
        assert (await client.get_run_command(M, "rc1")) is not None
        await client.delete_run_command(M, "rc1")
        assert await client.get_run_command(M, "rc1") is None
    finally:
        await client.aclose()
    assert set(fake.auth_seen) == {"Bearer fleet-dev-token"}
    assert client.stats().by_kind == {"write": 1, "read": 2, "delete": 1}


async def test_connection_dropped_after_the_put_arrived_is_adopted(
    http_arm: tuple[FakeArm, str],
) -> None:
    fake, endpoint = http_arm
    fake.drop_first_put = True
    client = client_for(endpoint, clock=FakeClock())
    try:
        view = await client.put_run_command(M, "rc1", {"location": "x", "properties": {}})
    finally:
        await client.aclose()
    assert view.name == "rc1"
    assert fake.puts == 1  # adopted through the GET, not sent twice


async def test_refused_connection_was_never_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = make_transport(ca_file=None, endpoint=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TransportFailure) as info:
            await transport.request(
                "GET", f"http://127.0.0.1:{port}/x?sig=SECRET", headers={}, timeout_s=5
            )
    finally:
        await transport.aclose()
    assert info.value.maybe_sent is False and info.value.retryable
    assert "SECRET" not in str(info.value)


async def test_redirects_are_not_followed(http_arm: tuple[FakeArm, str]) -> None:
    _, endpoint = http_arm
    transport = make_transport(ca_file=None, endpoint=endpoint)
    try:
        response = await transport.request("GET", f"{endpoint}/redirect", headers={}, timeout_s=5)
    finally:
        await transport.aclose()
    assert response.status == 307 and response.header("Location") == "http://127.0.0.2/elsewhere"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_path = Path(tmp_path_factory.mktemp("tls")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return server_ctx, str(ca_path)


async def test_https_with_a_private_ca_file(tls_files: tuple[ssl.SSLContext, str]) -> None:
    server_ctx, ca_path = tls_files
    fake = FakeArm()
    runner, port = await serve(arm_app(fake), server_ctx)
    endpoint = f"https://127.0.0.1:{port}"
    try:
        trusted = client_for(endpoint, ca_file=ca_path)
        try:
            assert await trusted.get_run_command(M, "nope") is None
        finally:
            await trusted.aclose()
        untrusted = client_for(endpoint)
        try:
            with pytest.raises(TransportFailure, match="TLS") as info:
                await untrusted.get_run_command(M, "nope")
            assert info.value.retryable is False
        finally:
            await untrusted.aclose()
    finally:
        await runner.cleanup()
    assert len(fake.auth_seen) == 1  # the untrusted attempt never reached the server


async def test_tls_connections_read_through_a_bounded_buffer(
    tls_files: tuple[ssl.SSLContext, str],
) -> None:
    """asyncio's 256 KiB read buffer per TLS connection is resident at once (zero-filled):
    a 100-connection pool held 25 MiB. Connections opened after ``make_transport`` read
    through a 32 KiB buffer, and a body far larger than it still arrives whole."""
    server_ctx, ca_path = tls_files
    body = bytes(range(256)) * 4096  # 1 MiB

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/big", big)
    runner, port = await serve(app, server_ctx)
    transport = make_transport(ca_file=ca_path, endpoint=f"https://127.0.0.1:{port}")
    try:
        response = await transport.request(
            "GET", f"https://127.0.0.1:{port}/big", headers={}, timeout_s=30
        )
        # The connection is still open (kept alive), its protocol reachable by the collector.
        buffers = [len(o._ssl_buffer) for o in gc.get_objects() if isinstance(o, sslproto.SSLProtocol)]
    finally:
        await transport.aclose()
        await runner.cleanup()
    assert response.status == 200 and response.body == body
    assert buffers and max(buffers) <= TLS_READ_BUFFER_BYTES < 256 * 1024


def test_unreadable_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(UsageError, match="--ca-file"):
        make_transport(ca_file=str(bad), endpoint="https://127.0.0.1:1")
