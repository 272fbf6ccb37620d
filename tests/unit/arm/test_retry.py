from __future__ import annotations

from collections.abc import Callable

import pytest

from fleet.arm.graph import GraphClient
from fleet.arm.retry import Retrying, RetryPolicy, backoff_s, parse_retry_after
from fleet.arm.transport import TransportFailure, TransportResponse
from fleet.errors import ArmError, ThrottledError
from fleet.types import MachineRef
from tests.unit.arm.fakes import (
    ENDPOINT,
    FakeClock,
    FakeTransport,
    ScriptedTokens,
    Sent,
    arm_error,
    make_client,
    respond,
)

POLICY = RetryPolicy(
    initial_backoff_s=1, multiplier=2, max_backoff_s=5, jitter=0.5, max_attempts=10
)


def test_backoff_is_exponential_and_capped() -> None:
    top = [backoff_s(POLICY, n, lambda: 0.0) for n in range(1, 7)]
    assert top == [1, 2, 4, 5, 5, 5]


@pytest.mark.parametrize("attempt", range(1, 8))
@pytest.mark.parametrize("r", [0.0, 0.3, 0.999999])
def test_jitter_stays_within_bounds(attempt: int, r: float) -> None:
    ceiling = min(5.0, 2.0 ** (attempt - 1))
    delay = backoff_s(POLICY, attempt, lambda: r)
    assert ceiling * 0.5 <= delay <= ceiling
    assert delay == pytest.approx(ceiling * (1 - 0.5 * r))


def test_budget_caps_attempts() -> None:
    budget = Retrying(RetryPolicy(max_attempts=3), FakeClock(), lambda: 0.0)
    assert budget.next_backoff() is not None
    assert budget.next_backoff() is not None
    assert budget.next_backoff() is None  # third failure was the last attempt


def test_budget_respects_deadline() -> None:
    clock = FakeClock()
    budget = Retrying(
        RetryPolicy(max_attempts=100, deadline_s=10, initial_backoff_s=4, multiplier=1), clock,
        lambda: 0.0,
    )
    assert budget.next_backoff() == 4
    clock.t += 7  # 3 s left: a 4 s backoff would overrun
    assert budget.next_backoff() is None
    assert budget.allows_wait(3.0) and not budget.allows_wait(3.1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        (None, None),
        ("-1", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


# ------------------------------------------------------------------- the attempt iterator


async def test_attempts_back_off_then_stop_at_the_cap() -> None:
    clock = FakeClock()
    seen: list[tuple[int, float, str]] = []
    retrying = Retrying(RetryPolicy(max_attempts=3, initial_backoff_s=1, jitter=0), clock,
                        lambda: 0.0, on_retry=lambda *event: seen.append(event))
    numbers = []
    async for attempt in retrying.attempts():
        numbers.append(attempt.number)
        if attempt.retry_after_failure("503"):
            continue
        break
    assert numbers == [1, 2, 3] and clock.sleeps == [1, 2]
    assert seen == [(1, 1.0, "503"), (2, 2.0, "503")]


async def test_a_fresh_token_once_and_429s_do_not_count_as_attempts() -> None:
    clock = FakeClock()
    retrying = Retrying(RetryPolicy(max_attempts=1), clock, lambda: 0.0)
    refreshes = []
    async for attempt in retrying.attempts():
        refreshes.append(attempt.force_refresh)
        if attempt.number <= 3 and attempt.retry_after_throttle(2.0):
            continue  # three 429s: not attempts, so max_attempts=1 still allows them
        if attempt.retry_with_new_token():
            continue
        assert not attempt.retry_with_new_token()  # once per loop
        break
    assert refreshes == [False, False, False, False, True] and clock.sleeps == [2.0] * 3


async def test_a_body_that_neither_returns_nor_retries_is_a_bug() -> None:
    retrying = Retrying(RetryPolicy(), FakeClock(), lambda: 0.0)
    with pytest.raises(RuntimeError):
        async for _ in retrying.attempts():
            pass


# ------------------------------------------------- both clients follow the same rules

async def _arm_call(handler: Callable[[Sent], TransportResponse], clock: FakeClock,
                    policy: RetryPolicy) -> tuple[int, list[float]]:
    client, transport, _ = make_client(handler, clock=clock, retry=policy)
    await client.get_run_command(MachineRef("s", "rg", "m"), "rc")
    return len(transport.sent), clock.sleeps


async def _graph_call(handler: Callable[[Sent], TransportResponse], clock: FakeClock,
                      policy: RetryPolicy) -> tuple[int, list[float]]:
    transport = FakeTransport(handler, clock)
    client = GraphClient(endpoint=ENDPOINT, transport=transport, credential=ScriptedTokens(),
                         clock=clock, retry=policy, random=lambda: 0.0)
    [row async for row in client.query("resources")]
    return len(transport.sent), clock.sleeps


CLIENTS = {"arm": _arm_call, "graph": _graph_call}
OK_BODY = {"name": "rc", "properties": {}, "data": []}  # fits both clients' success parsing


def _answers(first: TransportResponse) -> Callable[[Sent], TransportResponse]:
    answers = iter([first])
    return lambda sent: next(answers, respond(200, OK_BODY))


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_5xx_retry_after_past_the_deadline_stops_now(client: str) -> None:
    """Both clients: a Retry-After that would end past the deadline stops the call at once
    with the server's error: no sleep, no second request, no early retry either."""
    clock = FakeClock()
    busy = arm_error(503, "ServerBusy", "later", **{"Retry-After": "30"})
    with pytest.raises(ArmError) as info:
        await CLIENTS[client](lambda sent: busy, clock, RetryPolicy(deadline_s=10))
    assert info.value.status == 503 and clock.sleeps == []


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(("retry_after", "waited"), [("3", 3.0), ("500", 120.0)])
async def test_a_5xx_retry_after_is_waited_as_asked_capped(
    client: str, retry_after: str, waited: float
) -> None:
    clock = FakeClock()
    busy = arm_error(503, "ServerBusy", "later", **{"Retry-After": retry_after})
    sent, sleeps = await CLIENTS[client](_answers(busy), clock, RetryPolicy(deadline_s=1000))
    assert sent == 2 and sleeps == [waited]  # server wins over backoff; max_retry_after_s caps


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_429_past_the_deadline_is_a_throttled_error(client: str) -> None:
    clock = FakeClock()
    throttled = arm_error(429, "TooManyRequests", "slow", **{"Retry-After": "30"})
    with pytest.raises(ThrottledError):
        await CLIENTS[client](lambda sent: throttled, clock, RetryPolicy(deadline_s=10))
    assert clock.sleeps == []


@pytest.mark.parametrize("client", CLIENTS)
async def test_transport_failures_back_off_alike(client: str) -> None:
    clock = FakeClock()
    failures = iter([TransportFailure("reset", maybe_sent=True)] * 2)

    def handler(sent: Sent) -> TransportResponse:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return respond(200, OK_BODY)

    policy = RetryPolicy(initial_backoff_s=1, jitter=0)
    sent, sleeps = await CLIENTS[client](handler, clock, policy)
    assert sent == 3 and sleeps == [1.0, 2.0]
