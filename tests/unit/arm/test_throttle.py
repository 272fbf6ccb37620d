from __future__ import annotations

import asyncio

import pytest

from fleet.arm.throttle import (
    AimdPolicy,
    ArmLimits,
    BucketLimits,
    ConcurrencyController,
    Throttle,
    TokenBucket,
)
from tests.unit.arm.fakes import FakeClock


def test_defaults_are_arms_documented_buckets() -> None:
    limits = ArmLimits()
    assert (limits.reads.burst, limits.reads.per_s) == (250, 25)
    assert (limits.writes.burst, limits.writes.per_s) == (200, 10)
    assert (limits.deletes.burst, limits.deletes.per_s) == (200, 10)


def test_bucket_spends_burst_then_refills_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(BucketLimits(burst=3, per_s=2), clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s() == pytest.approx(0.5)
    clock.t += 0.5
    assert bucket.try_take()
    clock.t += 100
    assert bucket.tokens == pytest.approx(3)  # never above capacity


async def test_acquire_waits_on_the_clock_when_empty() -> None:
    clock = FakeClock()
    bucket = TokenBucket(BucketLimits(burst=1, per_s=4), clock)
    assert await bucket.acquire() == 0
    waited = await bucket.acquire()
    assert waited == pytest.approx(0.25)
    assert clock.sleeps == [pytest.approx(0.25)]


def test_header_lowers_the_level_but_never_raises_it() -> None:
    clock = FakeClock()
    throttle = Throttle(ArmLimits(), clock)
    throttle.observe("SUB", "write", {"x-ms-ratelimit-remaining-subscription-writes": "7"})
    assert throttle.bucket("sub", "write").tokens == pytest.approx(7)  # per subscription, any case
    throttle.observe("sub", "write", {"x-ms-ratelimit-remaining-subscription-writes": "150"})
    assert throttle.bucket("sub", "write").tokens == pytest.approx(7)
    throttle.observe("sub", "write", {"x-ms-ratelimit-remaining-subscription-writes": "junk"})
    assert throttle.bucket("sub", "write").tokens == pytest.approx(7)
    # other kinds and subscriptions are untouched
    assert throttle.bucket("sub", "read").tokens == pytest.approx(250)
    assert throttle.bucket("other", "write").tokens == pytest.approx(200)


def test_header_correction_slows_down_before_a_429() -> None:
    clock = FakeClock()
    throttle = Throttle(ArmLimits(), clock)
    throttle.observe("s", "read", {"x-ms-ratelimit-remaining-subscription-reads": "0"})
    bucket = throttle.bucket("s", "read")
    assert not bucket.try_take()
    assert bucket.wait_s() == pytest.approx(1 / 25)


def test_pause_blocks_the_bucket_and_is_not_stacked() -> None:
    clock = FakeClock()
    bucket = TokenBucket(BucketLimits(burst=250, per_s=25), clock)
    assert bucket.pause(3.0) is True
    assert bucket.pause(3.0) is False  # the same 429 seen by another caller
    assert bucket.pause(1.0) is False
    assert bucket.wait_s() == pytest.approx(3.0)
    clock.t += 3.0
    assert bucket.try_take()  # one token waits at the end of the pause ...
    assert not bucket.try_take()  # ... the rest trickle at the refill rate
    clock.t += 1.0
    assert bucket.pause(0.5) is True  # a later 429 is a new pause


def test_aimd_decreases_once_per_cooldown_and_recovers_additively() -> None:
    clock = FakeClock()
    ctl = ConcurrencyController(
        AimdPolicy(initial=40, minimum=2, maximum=50, decrease_cooldown_s=5, decrease_after=1),
        clock,
    )
    assert ctl.on_throttle() is True
    assert ctl.limit == 20
    assert ctl.on_throttle() is False  # same burst
    assert ctl.limit == 20
    clock.t += 5
    ctl.on_throttle()
    assert ctl.limit == 10
    for _ in range(10):  # one window of successes adds about one
        ctl.on_success()
    assert ctl.limit == 10 or ctl.limit == 11
    for _ in range(10_000):
        ctl.on_success()
    assert ctl.limit == 50
    for _ in range(20):
        clock.t += 10
        ctl.on_throttle()
    assert ctl.limit == 2


async def test_slots_hold_at_most_limit_in_flight() -> None:
    ctl = ConcurrencyController(AimdPolicy(initial=2, minimum=1, maximum=2), FakeClock())
    peak = 0
    release = asyncio.Event()

    async def job() -> None:
        nonlocal peak
        async with ctl.slot():
            peak = max(peak, ctl.in_flight)
            await release.wait()

    tasks = [asyncio.create_task(job()) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert ctl.in_flight == 2
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2 and ctl.in_flight == 0


def test_cap_bounds_the_limit_so_the_first_decrease_bites() -> None:
    clock = FakeClock()
    ctl = ConcurrencyController(AimdPolicy(), clock)
    assert ctl.limit == 500  # unconstrained until ARM throttles
    ctl.cap(20)
    assert ctl.limit == 20
    for _ in range(3):  # a burst of 429s: overload, not drift
        ctl.on_throttle()
    assert ctl.limit == 10
    for _ in range(10_000):
        ctl.on_success()
    assert ctl.limit == 20  # recovers up to the cap, not beyond


def test_reserve_is_never_spent_and_costs_reserve_over_rate_once() -> None:
    clock = FakeClock()
    bucket = TokenBucket(BucketLimits(burst=10, per_s=10, reserve=2), clock)
    assert sum(bucket.try_take() for _ in range(20)) == 8  # the burst less the reserve
    assert bucket.tokens == pytest.approx(2)
    assert bucket.wait_s() == pytest.approx(0.1)  # then exactly the refill rate
    clock.t += 0.1
    assert bucket.try_take() and not bucket.try_take()


def test_reserve_cannot_make_a_tiny_bucket_unusable() -> None:
    bucket = TokenBucket(BucketLimits(burst=1, per_s=1, reserve=5), FakeClock())
    assert bucket.try_take()


def test_pause_restarts_with_one_spendable_token_above_the_reserve() -> None:
    clock = FakeClock()
    bucket = TokenBucket(BucketLimits(burst=200, per_s=10, reserve=2), clock)
    bucket.pause(1.0)
    clock.t += 1.0
    assert bucket.try_take() and not bucket.try_take()
    assert bucket.wait_s() == pytest.approx(0.1)


def test_stray_429s_do_not_halve_concurrency_but_a_burst_does() -> None:
    clock = FakeClock()
    ctl = ConcurrencyController(AimdPolicy(initial=500, decrease_cooldown_s=5), clock)
    assert ctl.on_throttle() is False  # drift between ARM's bucket and ours
    clock.t += 1
    assert ctl.on_throttle() is False
    clock.t += 30  # long after: the two strays are forgotten
    assert ctl.on_throttle() is False
    assert ctl.limit == 500
    clock.t += 0.5
    assert ctl.on_throttle() is False
    clock.t += 0.5
    assert ctl.on_throttle() is True  # three within the window: overload
    assert ctl.limit == 250
    assert ctl.on_throttle() is False and ctl.on_throttle() is False  # same burst
    assert ctl.limit == 250
