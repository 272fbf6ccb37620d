"""Fakes at the seams the ARM layer declares: a scripted transport, a virtual clock, tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.arm.client import ArmClient
from fleet.arm.credentials import DevTokenProvider
from fleet.arm.events import ArmEvent
from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import ArmLimits
from fleet.arm.transport import TransportResponse

ENDPOINT = "https://arm.test"
SUB = "00000000-0000-0000-0000-000000000001"


class FakeClock:
    """Virtual time: ``sleep`` moves time forward instead of waiting, and yields once."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        target = self.t + max(0.0, seconds)
        self.sleeps.append(seconds)
        await asyncio.sleep(0)
        self.t = max(self.t, target)


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    at: float


Handler = Callable[[Sent], "TransportResponse | Exception"]


class FakeTransport:
    """Answers each request with ``handler(sent)``; an Exception result is raised.

    With ``gate=n``, the first n requests are held until n are in flight (concurrent answers).
    """

    def __init__(self, handler: Handler, clock: FakeClock, gate: int = 0) -> None:
        self.handler = handler
        self.clock = clock
        self.sent: list[Sent] = []
        self.closed = False
        self._gate = gate
        self._gate_open = asyncio.Event()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout_s: float,
    ) -> TransportResponse:
        sent = Sent(method, url, dict(headers), body, self.clock.now())
        self.sent.append(sent)
        if self._gate and len(self.sent) <= self._gate:
            if len(self.sent) == self._gate:
                self._gate_open.set()
            await self._gate_open.wait()
        result = self.handler(sent)
        if isinstance(result, Exception):
            raise result
        return result

    async def aclose(self) -> None:
        self.closed = True

    def count(self, method: str) -> int:
        return sum(1 for s in self.sent if s.method == method)


def respond(
    status: int, body: Any = None, headers: Mapping[str, str] | None = None
) -> TransportResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return TransportResponse(
        status=status, headers={k.lower(): v for k, v in (headers or {}).items()}, body=raw
    )


def arm_error(status: int, code: str, message: str, **headers: str) -> TransportResponse:
    return respond(status, {"error": {"code": code, "message": message}}, headers)


def run_command_body(name: str, state: str = "Creating", **view: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"provisioningState": state}
    if view:
        props["instanceView"] = view
    return {
        "name": name,
        "type": "Microsoft.HybridCompute/machines/runcommands",
        "properties": props,
    }


class ScriptedTokens:
    """A TokenProvider handing out t1, t2, ... ; a new one only when a refresh is forced."""

    def __init__(self) -> None:
        self.issued = 1
        self.closed = False

    @property
    def loopback_only(self) -> bool:
        return False

    async def get_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.issued += 1
        return f"t{self.issued}"

    async def aclose(self) -> None:
        self.closed = True


def make_client(
    handler: Handler,
    *,
    clock: FakeClock | None = None,
    retry: RetryPolicy | None = None,
    limits: ArmLimits | None = None,
    credential: Any = None,
    gate: int = 0,
    endpoint: str = ENDPOINT,
    request_events: bool = True,
) -> tuple[ArmClient, FakeTransport, list[ArmEvent]]:
    clock = clock or FakeClock()
    transport = FakeTransport(handler, clock, gate=gate)
    events: list[ArmEvent] = []
    client = ArmClient(
        endpoint=endpoint,
        transport=transport,
        credential=credential or ScriptedTokens(),
        retry=retry or RetryPolicy(),
        limits=limits or ArmLimits(),
        clock=clock,
        observer=events.append,
        random=lambda: 0.5,
        request_events=request_events,
    )
    return client, transport, events


__all__ = [
    "ENDPOINT",
    "SUB",
    "DevTokenProvider",
    "FakeClock",
    "FakeTransport",
    "ScriptedTokens",
    "Sent",
    "arm_error",
    "make_client",
    "respond",
    "run_command_body",
]
