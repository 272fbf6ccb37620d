"""A subscription's ARM budget handed from one shard to the next (fleet.production.budget):
the next chunk, on another worker, starts from the tokens the previous one left plus what ARM
refilled since, never from a full burst ARM has just seen spent. Typed fakes: a manual clock
and ARM's own bucket modelled as one more token bucket."""

from __future__ import annotations

from fleet.arm.throttle import ArmLimits, BucketLimits, Throttle, TokenBucket
from fleet.production.budget import AT_KEY, carried_limits, stamped

SUB = "00000000-0000-0000-0000-00000000000A"


class ManualClock:
    """Time moves only when someone sleeps."""

    def __init__(self, now_s: float = 1_000.0) -> None:
        self.now_s = now_s

    def now(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.now_s += max(0.0, seconds)


def test_carried_tokens_refill_at_each_kinds_rate_and_never_exceed_a_burst() -> None:
    limits = ArmLimits()
    left = {"read": 10.0, "write": 0.0, "delete": 199.0, AT_KEY: 100.0}
    carried = carried_limits(limits, SUB, left, now_s=101.5)
    assert carried is not None
    start = carried.start_tokens[SUB.lower()]
    assert start["read"] == 10.0 + 1.5 * 25  # reads refill 25/s
    assert start["write"] == 15.0  # writes 10/s
    assert start["delete"] == 200.0  # capped at the burst
    # On a scaled rehearsal (0.01 wall s per engine second) 1.5 wall s is 150 engine seconds.
    scaled = carried_limits(limits, SUB, left, now_s=100.015, time_scale=0.01)
    assert scaled is not None and abs(scaled.start_tokens[SUB.lower()]["write"] - 15.0) < 1e-6
    # A clock that went backwards refills nothing; no hand-over leaves the limits alone.
    back = carried_limits(limits, SUB, left, now_s=50.0)
    assert back is not None and back.start_tokens[SUB.lower()]["write"] == 0.0
    assert carried_limits(limits, SUB, None, now_s=101.5) is limits
    assert carried_limits(None, SUB, {"write": 3.0}, now_s=101.5) is None  # no stamp: unchanged
    assert stamped(None, 5.0) is None
    assert stamped({"write": 2.0, "bogus": 9.0}, 5.0) == {"write": 2.0, AT_KEY: 5.0}


def test_a_bucket_started_empty_serves_only_at_its_refill_rate() -> None:
    clock = ManualClock()
    limits = ArmLimits(start_tokens={SUB.lower(): {"write": 0.0}})
    throttle = Throttle(limits, clock)
    bucket = throttle.bucket(SUB, "write")
    assert bucket.wait_s() == (1.0 + bucket.reserve) / bucket.rate_per_s
    assert throttle.bucket(SUB, "read").tokens == 250.0  # kinds not named start full
    levels = throttle.levels()[SUB.lower()]
    assert set(levels) == {"read", "write", "delete"} and levels["write"] == 0.0


async def _chunk(throttle: Throttle, arm: TokenBucket, writes: int) -> int:
    """Send ``writes`` PUTs through ``throttle`` to ARM's bucket; ARM's refusals (429s)."""
    refused = 0
    for _ in range(writes):
        await throttle.acquire(SUB, "write")
        if not arm.try_take():
            refused += 1
    return refused


async def test_two_sequential_chunks_on_two_workers_get_no_more_429s_than_one() -> None:
    limits = ArmLimits(writes=BucketLimits(burst=50, per_s=10, reserve=0))
    arm_limits = BucketLimits(burst=50, per_s=10)

    async def run(hand_over: bool) -> int:
        clock = ManualClock()
        arm = TokenBucket(arm_limits, clock)  # ARM's bucket for this subscription + principal
        first = Throttle(limits, clock)  # worker 1's client
        refused = await _chunk(first, arm, 80)
        left = stamped(first.levels()[SUB.lower()], clock.now()) if hand_over else None
        second = Throttle(carried_limits(limits, SUB, left, clock.now()) or limits, clock)  # worker 2
        return refused + await _chunk(second, arm, 80)

    one = ManualClock()
    alone = await _chunk(Throttle(limits, one), TokenBucket(arm_limits, one), 160)
    assert alone == 0
    assert await run(hand_over=True) <= alone  # the rule: no more 429s than one chunk
    assert await run(hand_over=False) > 0  # without it, worker 2 spends a burst ARM has not got
