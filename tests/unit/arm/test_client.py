from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fleet.arm.events import RequestDone, RetryScheduled, ThrottlePaused
from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import AimdPolicy, ArmLimits
from fleet.arm.transport import TransportFailure, TransportResponse
from fleet.errors import (
    ArmError,
    AuthError,
    NotFoundError,
    OutcomeUnknownError,
    ThrottledError,
    TransportError,
)
from fleet.types import MachineRef
from tests.unit.arm.fakes import (
    ENDPOINT,
    SUB,
    FakeClock,
    ScriptedTokens,
    Sent,
    arm_error,
    make_client,
    respond,
    run_command_body,
)

M = MachineRef(
    subscription_id=SUB, resource_group="rg1", name="web-01", location="eastus", os_type="linux"
)
RC_PATH = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/web-01/runCommands/rc1"
BODY = {"location": "eastus", "properties": {"source": {"script": "echo hi"}}}
FAST = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=1.0, max_attempts=4, deadline_s=60)


def dropped_after_send() -> TransportFailure:
    return TransportFailure("connection lost", maybe_sent=True)


# ---------------------------------------------------------------- exactly once


async def test_put_success_returns_the_view_from_the_body() -> None:
    client, transport, _ = make_client(lambda s: respond(201, run_command_body("rc1")))
    view = await client.put_run_command(M, "rc1", BODY)
    assert view.name == "rc1" and view.provisioning_state == "Creating"
    put = transport.sent[0]
    assert put.method == "PUT" and put.url == f"{ENDPOINT}{RC_PATH}?api-version=2025-01-13"
    assert json.loads(put.body or b"") == BODY
    assert put.headers["Authorization"] == "Bearer t1"
    assert put.headers["Content-Type"] == "application/json"


async def test_dropped_put_is_adopted_when_get_finds_it_and_never_resent() -> None:
    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return dropped_after_send()
        return respond(200, run_command_body("rc1", "Succeeded", executionState="Running"))

    client, transport, events = make_client(handler, retry=FAST)
    view = await client.put_run_command(M, "rc1", BODY)
    assert view.execution_state == "Running"
    assert transport.count("PUT") == 1
    assert transport.count("GET") == 1
    assert [e.reason for e in events if isinstance(e, RetryScheduled)] == ["unknown outcome"]


async def test_dropped_put_is_resent_only_after_get_proves_404() -> None:
    puts = 0

    def handler(s: Sent) -> TransportResponse | Exception:
        nonlocal puts
        if s.method == "PUT":
            puts += 1
            return dropped_after_send() if puts == 1 else respond(201, run_command_body("rc1"))
        return arm_error(404, "ResourceNotFound", "not found")

    client, transport, _ = make_client(handler, retry=FAST)
    view = await client.put_run_command(M, "rc1", BODY)
    assert view.provisioning_state == "Creating"
    assert [s.method for s in transport.sent] == ["PUT", "GET", "PUT"]


async def test_5xx_on_put_is_ambiguous_too() -> None:
    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return arm_error(500, "InternalServerError", "boom")
        return respond(200, run_command_body("rc1", "Creating"))

    client, transport, _ = make_client(handler, retry=FAST)
    await client.put_run_command(M, "rc1", BODY)
    assert [s.method for s in transport.sent] == ["PUT", "GET"]


async def test_put_that_never_connected_is_retried_without_a_get() -> None:
    puts = 0

    def handler(s: Sent) -> TransportResponse | Exception:
        nonlocal puts
        puts += 1
        if puts == 1:
            return TransportFailure("refused", maybe_sent=False)
        return respond(201, run_command_body("rc1"))

    client, transport, _ = make_client(handler, retry=FAST)
    await client.put_run_command(M, "rc1", BODY)
    assert [s.method for s in transport.sent] == ["PUT", "PUT"]


async def test_ambiguous_put_gives_up_after_the_attempt_cap_without_a_blind_resend() -> None:
    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return dropped_after_send()
        return arm_error(404, "ResourceNotFound", "nope")

    client, transport, _ = make_client(handler, retry=FAST)
    with pytest.raises(TransportError):
        await client.put_run_command(M, "rc1", BODY)
    methods = [s.method for s in transport.sent]
    # every re-PUT is preceded by a GET that found nothing, and so is giving up
    assert methods == ["PUT", "GET", "PUT", "GET", "PUT", "GET", "PUT", "GET"]


async def test_last_ambiguous_put_is_still_adopted_if_it_took_effect() -> None:
    puts = 0

    def handler(s: Sent) -> TransportResponse | Exception:
        nonlocal puts
        if s.method == "PUT":
            puts += 1
            return dropped_after_send()
        if puts < FAST.max_attempts:
            return arm_error(404, "ResourceNotFound", "nope")
        return respond(200, run_command_body("rc1", "Succeeded"))

    client, transport, _ = make_client(handler, retry=FAST)
    view = await client.put_run_command(M, "rc1", BODY)
    assert view.provisioning_state == "Succeeded"
    assert transport.count("PUT") == FAST.max_attempts


async def test_put_4xx_is_not_retried() -> None:
    client, transport, _ = make_client(lambda s: arm_error(400, "BadRequest", "no"))
    with pytest.raises(ArmError) as info:
        await client.put_run_command(M, "rc1", BODY)
    assert info.value.status == 400 and info.value.code == "BadRequest"
    assert len(transport.sent) == 1


async def test_put_409_is_reconciled_never_resent() -> None:
    """A 409 says something holds the name (maybe this very PUT): look, never send again."""

    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return arm_error(409, "Conflict", "busy")
        return arm_error(404, "ResourceNotFound", "nope")

    client, transport, _ = make_client(handler)
    with pytest.raises(ArmError) as info:
        await client.put_run_command(M, "rc1", BODY)
    assert info.value.status == 409 and info.value.code == "Conflict"
    assert [s.method for s in transport.sent] == ["PUT", "GET"]


GARBAGE_2XX = [
    (200, b"<html>upstream says hi</html>"),
    (201, b"[]"),
    (200, b'{"unexpected": true}'),
    (201, b'{"name": "someone-else", "properties": {}}'),
    (200, b"\xff\xfe not utf-8"),
    (204, b""),
    (299, b"{}"),
]


@pytest.mark.parametrize(("status", "body"), GARBAGE_2XX)
async def test_put_2xx_garbage_is_reconciled_and_adopted(status: int, body: bytes) -> None:
    """Issue #13 A2: an answer fleet cannot read is ambiguous: GET, adopt, never re-send."""

    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return TransportResponse(status, {}, body)
        return respond(200, run_command_body("rc1", "Succeeded", executionState="Running"))

    client, transport, _ = make_client(handler)
    view = await client.put_run_command(M, "rc1", BODY)
    assert view.execution_state == "Running"
    assert [s.method for s in transport.sent] == ["PUT", "GET"]


@pytest.mark.parametrize(("status", "body"), GARBAGE_2XX)
async def test_put_2xx_garbage_then_gone_is_unknown_not_failed(status: int, body: bytes) -> None:
    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return TransportResponse(status, {}, body)
        return arm_error(404, "ResourceNotFound", "nope")

    client, transport, _ = make_client(handler)
    with pytest.raises(OutcomeUnknownError):
        await client.put_run_command(M, "rc1", BODY)
    assert transport.count("PUT") == 1


async def test_on_send_is_called_before_each_put_leaves() -> None:
    calls: list[int] = []

    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            assert len(calls) == transport.count("PUT")  # the note came first
            return respond(201, run_command_body("rc1"))
        return arm_error(404, "ResourceNotFound", "nope")

    client, transport, _ = make_client(handler)
    await client.put_run_command(M, "rc1", BODY, on_send=lambda: calls.append(1))
    assert calls == [1]


# ---------------------------------------------------------------- 401, 5xx, 429


async def test_401_refreshes_the_token_once_and_retries() -> None:
    def handler(s: Sent) -> TransportResponse:
        if s.headers["Authorization"] == "Bearer t1":
            return arm_error(401, "ExpiredAuthenticationToken", "expired")
        return respond(200, run_command_body("rc1", "Succeeded"))

    tokens = ScriptedTokens()
    client, transport, _ = make_client(handler, credential=tokens)
    view = await client.get_run_command(M, "rc1")
    assert view is not None and view.provisioning_state == "Succeeded"
    assert [s.headers["Authorization"] for s in transport.sent] == ["Bearer t1", "Bearer t2"]


async def test_second_401_is_an_auth_error() -> None:
    client, transport, _ = make_client(lambda s: arm_error(401, "InvalidAuthenticationToken", "no"))
    with pytest.raises(AuthError) as info:
        await client.get_machine(M)
    assert info.value.status == 401
    assert len(transport.sent) == 2


async def test_5xx_on_reads_retries_with_backoff_then_succeeds() -> None:
    answers = iter([arm_error(503, "ServiceUnavailable", "x"), arm_error(502, "BadGateway", "y")])

    def handler(s: Sent) -> TransportResponse:
        return next(answers, respond(200, run_command_body("rc1", "Succeeded")))

    clock = FakeClock()
    client, _, events = make_client(handler, clock=clock, retry=FAST)
    assert await client.get_run_command(M, "rc1") is not None
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [r.reason for r in retries] == ["503", "502"]
    assert [r.delay_s for r in retries] == [pytest.approx(0.075), pytest.approx(0.15)]  # random=0.5
    assert client.stats().retries == 2


async def test_5xx_retry_after_from_the_server_wins() -> None:
    answers = iter([arm_error(503, "ServiceUnavailable", "x", **{"Retry-After": "7"})])
    client, _, events = make_client(
        lambda s: next(answers, respond(200, run_command_body("rc1"))), retry=FAST
    )
    await client.get_run_command(M, "rc1")
    assert [e.delay_s for e in events if isinstance(e, RetryScheduled)] == [7.0]


async def test_persistent_5xx_stops_at_the_attempt_cap() -> None:
    client, transport, _ = make_client(
        lambda s: arm_error(500, "InternalServerError", "x"), retry=FAST
    )
    with pytest.raises(ArmError) as info:
        await client.get_machine(M)
    assert info.value.status == 500
    assert len(transport.sent) == FAST.max_attempts


async def test_retries_stop_at_the_deadline() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        initial_backoff_s=2, multiplier=1, jitter=0, max_attempts=100, deadline_s=7
    )
    client, transport, _ = make_client(
        lambda s: TransportFailure("reset", maybe_sent=True), clock=clock, retry=policy
    )
    start = clock.now()
    with pytest.raises(TransportError):
        await client.list_run_commands(M)
    assert len(transport.sent) == 4  # at 0, 2, 4, 6; another 2 s would pass the 7 s deadline
    assert clock.now() - start <= 7


async def test_429_pauses_the_bucket_once_for_concurrent_callers() -> None:
    seen = 0

    def handler(s: Sent) -> TransportResponse:
        nonlocal seen
        seen += 1
        if seen <= 5:
            return arm_error(
                429, "SubscriptionRequestsThrottled", "slow down", **{"Retry-After": "2"}
            )
        return respond(200, run_command_body("rc1", "Succeeded"))

    clock = FakeClock()
    limits = ArmLimits(concurrency=AimdPolicy(initial=40))
    client, transport, events = make_client(handler, clock=clock, gate=5, limits=limits)
    start = clock.now()
    results = await asyncio.gather(*(client.get_run_command(M, "rc1") for _ in range(5)))
    assert all(r is not None for r in results)
    pauses = [e for e in events if isinstance(e, ThrottlePaused)]
    assert pauses == [ThrottlePaused(subscription_id=SUB, kind="read", pause_s=2.0)]
    retried_at = [s.at - start for s in transport.sent[5:]]
    assert len(retried_at) == 5
    assert min(retried_at) >= 2.0  # nobody jumped the pause
    assert retried_at == sorted(retried_at) and len(set(retried_at)) == 5  # one by one, no herd
    assert client.concurrency_for(SUB).limit == 20  # one decrease for one burst
    stats = client.stats()
    assert stats.throttled == 5 and stats.by_status == {"429": 5, "200": 5}


async def test_429_does_not_count_toward_the_attempt_cap() -> None:
    answers = iter([arm_error(429, "TooManyRequests", "x", **{"Retry-After": "1"})] * 6)
    policy = RetryPolicy(max_attempts=2, deadline_s=60)
    client, transport, _ = make_client(lambda s: next(answers, respond(204)), retry=policy)
    await client.delete_run_command(M, "rc1")
    assert len(transport.sent) == 7


async def test_429_beyond_the_deadline_raises_throttled_error() -> None:
    policy = RetryPolicy(deadline_s=10)
    client, transport, _ = make_client(
        lambda s: arm_error(429, "SubscriptionRequestsThrottled", "x", **{"Retry-After": "30"}),
        retry=policy,
    )
    with pytest.raises(ThrottledError) as info:
        await client.put_run_command(M, "rc1", BODY)
    assert info.value.status == 429 and info.value.code == "SubscriptionRequestsThrottled"
    assert len(transport.sent) == 1


async def test_ratelimit_header_slows_the_next_request() -> None:
    clock = FakeClock()
    client, transport, _ = make_client(
        lambda s: respond(204, headers={"x-ms-ratelimit-remaining-subscription-deletes": "0"}),
        clock=clock,
    )
    await client.delete_run_command(M, "a")
    await client.delete_run_command(M, "b")
    assert transport.sent[1].at - transport.sent[0].at == pytest.approx(0.1)  # 10 deletes/s


# ---------------------------------------------------------------- reads, paging, errors


def machine_json(name: str, **props: Any) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{SUB}/resourceGroups/RG2/providers/Microsoft.HybridCompute/machines/{name}",
        "name": name,
        "location": "westeurope",
        "tags": {"role": "web"},
        "properties": {"status": "Connected", "agentVersion": "1.40.0", "osType": "Linux", **props},
    }


async def test_list_machines_follows_next_link() -> None:
    pages = {
        "1": {
            "value": [machine_json("a"), machine_json("b")],
            "nextLink": f"{ENDPOINT}/next?$skiptoken=2&api-version=2025-01-13",
        },
        "2": {"value": [machine_json("c")], "nextLink": f"{ENDPOINT}/next?$skiptoken=3"},
        "3": {"value": [], "nextLink": None},
    }

    def handler(s: Sent) -> TransportResponse:
        page = "1" if "skiptoken" not in s.url else s.url.split("skiptoken=")[1][0]
        return respond(200, pages[page])

    client, transport, _ = make_client(handler)
    machines = [m async for m in client.list_machines(SUB, "RG2")]
    assert [m.ref.name for m in machines] == ["a", "b", "c"]
    assert machines[0].ref.resource_group == "RG2" and machines[0].ref.os_type == "linux"
    assert transport.sent[0].url == (
        f"{ENDPOINT}/subscriptions/{SUB}/resourceGroups/RG2/providers/Microsoft.HybridCompute/machines"
        "?api-version=2025-01-13"
    )
    assert transport.sent[2].url.endswith(
        "$skiptoken=3&api-version=2025-01-13"
    )  # added when absent
    assert client.stats().by_kind == {"read": 3}


async def test_next_link_to_another_host_is_refused() -> None:
    client, transport, _ = make_client(
        lambda s: respond(
            200, {"value": [machine_json("a")], "nextLink": "https://evil.example/steal"}
        )
    )
    with pytest.raises(ArmError, match="another host"):
        _ = [m async for m in client.list_machines(SUB)]
    assert len(transport.sent) == 1


async def test_list_run_commands_pages() -> None:
    pages = iter(
        [
            respond(
                200, {"value": [run_command_body("a")], "nextLink": f"{ENDPOINT}/p2?api-version=x"}
            ),
            respond(200, {"value": [run_command_body("b")]}),
        ]
    )
    client, _, _ = make_client(lambda s: next(pages))
    assert [v.name for v in await client.list_run_commands(M)] == ["a", "b"]


async def test_machine_body_full_of_nulls_is_tolerated() -> None:
    body = {
        "id": None,
        "name": "web-01",
        "location": None,
        "tags": None,
        "kind": None,
        "properties": {
            "status": None,
            "agentVersion": None,
            "osType": None,
            "osName": None,
            "lastStatusChange": None,
            "agentConfiguration": None,
        },
    }
    client, _, _ = make_client(lambda s: respond(200, body))
    info = await client.get_machine(M)
    assert info.status is None and info.agent_version is None and info.tags == {}
    assert info.ref.subscription_id == SUB and info.ref.resource_group == "rg1"
    assert info.ref.os_type == "linux"  # from the ref the caller gave, since ARM said null


async def test_machine_fields_are_parsed() -> None:
    body = machine_json(
        "web-01",
        osName="ubuntu",
        lastStatusChange="2026-01-01T00:00:00Z",
        agentConfiguration={"extensionsEnabled": "false"},
    )
    body["tags"] = {"n": None, "role": "web"}
    client, _, _ = make_client(lambda s: respond(200, body))
    info = await client.get_machine(M)
    assert (info.status, info.agent_version, info.os_name) == ("Connected", "1.40.0", "ubuntu")
    assert info.tags == {"n": "", "role": "web"}
    assert info.extensions_enabled is False
    assert info.ref.os_type == "linux" and info.ref.location == "westeurope"


async def test_run_command_without_instance_view_and_with_string_exit_code() -> None:
    answers = iter(
        [
            respond(200, {"name": "rc1", "properties": None}),
            respond(
                200,
                run_command_body(
                    "rc1",
                    "Succeeded",
                    executionState="Failed",
                    exitCode="3",
                    output="o",
                    error=None,
                    startTime="s",
                    endTime="e",
                    executionMessage="m",
                ),
            ),
        ]
    )
    client, _, _ = make_client(lambda s: next(answers))
    bare = await client.get_run_command(M, "rc1")
    assert bare is not None and bare.provisioning_state is None and bare.exit_code is None
    full = await client.get_run_command(M, "rc1")
    assert full is not None and full.exit_code == 3 and full.execution_terminal
    assert (full.output, full.error, full.execution_message) == ("o", None, "m")


@pytest.mark.parametrize(
    ("status", "cls"), [(404, NotFoundError), (403, AuthError), (400, ArmError), (409, ArmError)]
)
async def test_error_bodies_map_to_the_error_tree(status: int, cls: type[ArmError]) -> None:
    client, _, _ = make_client(lambda s: arm_error(status, "SomeCode", "it went wrong"))
    with pytest.raises(cls) as info:
        await client.get_machine(M)
    assert type(info.value) is cls
    assert info.value.status == status and info.value.code == "SomeCode"
    assert "it went wrong" in str(info.value)


async def test_get_run_command_404_is_none_and_delete_404_is_fine() -> None:
    client, _, _ = make_client(lambda s: arm_error(404, "ResourceNotFound", "gone"))
    assert await client.get_run_command(M, "rc1") is None
    await client.delete_run_command(M, "rc1")


async def test_non_json_error_body_still_maps() -> None:
    client, _, _ = make_client(lambda s: TransportResponse(status=400, body=b"<html>bad</html>"))
    with pytest.raises(ArmError) as info:
        await client.get_machine(M)
    assert info.value.status == 400 and info.value.code is None


# ---------------------------------------------------------------- secrets stay out


async def test_sas_and_tokens_never_reach_events_or_exceptions() -> None:
    sas = "https://acct.blob.core.windows.net/c/o?sv=2024&sp=racw&sig=TOPSECRETSIG"
    answers = iter(
        [
            TransportFailure(f"reset while writing {sas}", maybe_sent=False),
            arm_error(400, "InvalidParameter", f"outputBlobUri {sas} is not reachable"),
        ]
    )
    client, _, events = make_client(lambda s: next(answers), retry=FAST)
    with pytest.raises(ArmError) as info:
        await client.put_run_command(M, "rc1", {"properties": {"outputBlobUri": sas}})
    text = str(info.value) + repr(events)
    assert "TOPSECRETSIG" not in text and "t1" not in repr([e for e in events])
    assert "sig=***" in str(info.value)
    done = [e for e in events if isinstance(e, RequestDone)]
    assert (
        done[0].status is None and done[0].error is not None and "TOPSECRETSIG" not in done[0].error
    )


async def test_stats_count_requests_by_kind() -> None:
    client, _, _ = make_client(
        lambda s: respond(204) if s.method == "DELETE" else respond(200, run_command_body("x"))
    )
    await client.put_run_command(M, "x", BODY)
    await client.get_run_command(M, "x")
    await client.delete_run_command(M, "x")
    stats = client.stats()
    assert stats.by_kind == {"write": 1, "read": 1, "delete": 1}
    assert stats.as_report() == {"read": 1, "write": 1, "delete": 1, "total": 3}
    await client.aclose()


async def test_ambiguous_put_whose_get_fails_is_unknown_not_failed() -> None:
    """Issue #13 A2: a PUT that may have taken effect, and a GET that cannot tell (errors
    past its retries): the outcome is unknown, never "not sent" (and never re-sent)."""

    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return dropped_after_send()
        return arm_error(500, "InternalServerError", "down")

    client, transport, _ = make_client(handler, retry=FAST)
    with pytest.raises(OutcomeUnknownError):
        await client.put_run_command(M, "rc1", BODY)
    assert transport.count("PUT") == 1


async def test_accepted_put_whose_get_fails_is_unknown() -> None:
    def handler(s: Sent) -> TransportResponse | Exception:
        if s.method == "PUT":
            return respond(202)
        return arm_error(403, "AuthorizationFailed", "no")

    client, transport, _ = make_client(handler, retry=FAST)
    with pytest.raises(OutcomeUnknownError):
        await client.put_run_command(M, "rc1", BODY)
    assert transport.count("PUT") == 1


@pytest.mark.parametrize("request_events", [True, False])
async def test_request_events_only_for_an_observer_that_reads_them(request_events: bool) -> None:
    answers = iter([arm_error(503, "ServiceUnavailable", "x")])

    def handler(s: Sent) -> TransportResponse:
        return next(answers, respond(200, run_command_body("rc1", "Succeeded")))

    client, _, events = make_client(handler, retry=FAST, request_events=request_events)
    assert await client.get_run_command(M, "rc1") is not None
    done = [e for e in events if isinstance(e, RequestDone)]
    assert [e.status for e in done] == ([503, 200] if request_events else [])
    assert [e.reason for e in events if isinstance(e, RetryScheduled)] == ["503"]  # always
    assert client.stats().retries == 1
