"""GraphClient at the transport seam (virtual clock, scripted answers) and the cache's edges."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from fleet.arm.credentials import DevTokenProvider
from fleet.arm.graph import GraphClient
from fleet.arm.retry import RetryPolicy
from fleet.arm.transport import TransportFailure, TransportResponse
from fleet.errors import ArmError, AuthError, InsecureEndpointError, ThrottledError
from fleet.inventory.sources.cache import SourceCache
from fleet.inventory.sources.model import Discovered
from tests.inventory_sources.helpers import MovableNow
from tests.unit.arm.fakes import FakeClock, FakeTransport, ScriptedTokens, Sent, arm_error, respond

ENDPOINT = "https://arm.test"


def page(names: list[str], token: str | None = None, **headers: str) -> TransportResponse:
    body: dict[str, object] = {"totalRecords": 9, "count": len(names), "resultTruncated": "false",
                               "data": [{"id": n} for n in names]}
    if token:
        body["$skipToken"] = token
    return respond(200, body, headers)


async def collect(client: GraphClient, subs: tuple[str, ...] = ()) -> list[object]:
    return [r["id"] async for r in client.query("resources", subscriptions=subs)]


def make(handler: object, clock: FakeClock, **kw: object) -> tuple[GraphClient, FakeTransport]:
    transport = FakeTransport(handler, clock)  # type: ignore[arg-type]
    client = GraphClient(endpoint=ENDPOINT, transport=transport, credential=ScriptedTokens(),
                         clock=clock, random=lambda: 0.0, **kw)  # type: ignore[arg-type]
    return client, transport


async def test_5xx_and_dropped_connections_are_retried_and_pages_resend_the_same_query() -> None:
    clock = FakeClock()
    answers = iter([
        TransportFailure("reset", maybe_sent=True),
        arm_error(503, "ServiceUnavailable", "busy"),
        page(["a", "b"], "t1"),
        page(["c"]),
    ])
    client, transport = make(lambda sent: next(answers), clock)
    assert await collect(client, ("s1",)) == ["a", "b", "c"]
    bodies = [json.loads(s.body or b"{}") for s in transport.sent]
    assert all(b["query"] == "resources" and b["subscriptions"] == ["s1"] for b in bodies)
    assert bodies[-1]["options"]["$skipToken"] == "t1" and "$skipToken" not in bodies[0]["options"]
    assert client.stats().retries == 2 and clock.sleeps == [0.5, 1.0]


async def test_quota_headers_make_it_wait_for_the_reset_before_asking() -> None:
    clock = FakeClock()
    answers = iter([page(["a"], "t", **{"x-ms-user-quota-remaining": "0",
                                        "x-ms-user-quota-resets-after": "00:00:04"}),
                    page(["b"])])
    client, transport = make(lambda sent: next(answers), clock)
    assert await collect(client) == ["a", "b"]
    assert transport.sent[1].at - transport.sent[0].at == pytest.approx(4.0)
    assert client.stats().throttled == 0 and client.stats().quota_wait_s == pytest.approx(4.0)


async def test_429_without_retry_after_uses_resets_after_and_respects_the_deadline() -> None:
    clock = FakeClock()
    answers = iter([arm_error(429, "RateLimiting", "slow down",
                              **{"x-ms-user-quota-resets-after": "00:00:02"}), page(["a"])])
    client, _ = make(lambda sent: next(answers), clock)
    assert await collect(client) == ["a"] and clock.sleeps == [2.0]
    late, _ = make(lambda sent: arm_error(429, "RateLimiting", "no", **{"Retry-After": "100"}),
                   FakeClock(), retry=RetryPolicy(deadline_s=10))
    with pytest.raises(ThrottledError, match="deadline"):
        await collect(late)


async def test_401_refreshes_once_then_is_an_auth_error_without_the_token() -> None:
    clock = FakeClock()
    client, transport = make(lambda sent: arm_error(401, "InvalidAuthenticationToken", "bad"), clock)
    with pytest.raises(AuthError) as caught:
        await collect(client)
    assert [s.headers["Authorization"] for s in transport.sent] == ["Bearer t1", "Bearer t2"]
    assert "t1" not in str(caught.value).split() and "Bearer" not in str(caught.value)


async def test_a_body_without_data_is_an_error_and_the_subscriptions_are_batched() -> None:
    clock = FakeClock()
    client, _ = make(lambda sent: respond(200, {"rows": []}), clock)
    with pytest.raises(ArmError, match="'data'"):
        await collect(client)
    seen: list[int] = []

    def answer(sent: Sent) -> object:
        seen.append(len(json.loads(sent.body or b"{}")["subscriptions"]))
        return page([])

    batched, _ = make(answer, clock)
    await collect(batched, tuple(f"s{i}" for i in range(650)))
    assert seen == [300, 300, 50]


def test_dev_token_only_on_loopback_and_never_over_plain_http() -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda sent: page([]), clock)
    with pytest.raises(InsecureEndpointError):
        GraphClient(endpoint=ENDPOINT, transport=transport, credential=DevTokenProvider())
    with pytest.raises(InsecureEndpointError):
        GraphClient(endpoint="http://arm.test", transport=transport, credential=ScriptedTokens())


def _found(name: str) -> Discovered:
    return Discovered("s", "rg", name, "eastus", "linux", tags={"env": "prod"}, status="Connected")


def test_cache_round_trip_expiry_and_damage(tmp_path: Path) -> None:
    now = MovableNow()
    cache = SourceCache(tmp_path / "c", now=now)
    cache.put("k" * 64, label="arm:s", machines=[_found("m1")], fetched_at="2026-11-26T09:00:00Z")
    got = cache.get("k" * 64, ttl_s=60, label="arm:s")
    assert got is not None and got[0].name == "m1" and got[0].tags == {"env": "prod"}
    assert got[0].from_cache and got[0].snapshot_at == "2026-11-26T09:00:00Z"
    assert cache.get("k" * 64, ttl_s=0, label="arm:s") is None  # TTL 0: no cache
    now.at -= timedelta(seconds=1)  # the clock moved back: the listing is "from the future"
    assert cache.get("k" * 64, ttl_s=60, label="arm:s") is None
    now.at += timedelta(seconds=61)
    assert cache.get("k" * 64, ttl_s=60, label="arm:s") is None  # 60 s old: expired
    cache.path_for("k" * 64).write_text("{not json")
    assert cache.get("k" * 64, ttl_s=3600, label="arm:s") is None  # damaged: a miss
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700
