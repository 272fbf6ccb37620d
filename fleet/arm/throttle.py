"""Client-side rate limiting that mirrors ARM's own token buckets.

One bucket per (subscription, kind), kind being ``read``, ``write`` or ``delete``, seeded from
ARM's documented defaults and corrected downwards from every response's
``x-ms-ratelimit-remaining-subscription-<kind>s`` header, so fleet slows down before ARM
answers 429. The write bucket keeps a small reserve of tokens unspent: requests reach ARM a little
jittered, so a client that spends exactly ARM's rate drifts onto ARM's empty bucket now and then
(two write 429s in a 1,000-machine run, bench/RESULTS.md); the reserve costs ``reserve / rate``
seconds once per run. A 429 pauses its whole bucket for ``Retry-After`` once, however many
callers saw it, and the bucket restarts nearly empty so waiting callers trickle out instead of
stampeding. ``ConcurrencyController`` adapts how many jobs the engine keeps in flight (AIMD).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from fleet.clock import Clock

__all__ = [
    "KINDS",
    "AimdPolicy",
    "ArmLimits",
    "BucketKind",
    "BucketLimits",
    "ConcurrencyController",
    "Throttle",
    "TokenBucket",
]

BucketKind = Literal["read", "write", "delete"]  # ARM's three per-subscription budgets
KINDS: tuple[BucketKind, ...] = get_args(BucketKind)
# Refill arithmetic in floats can land a hair under one token after sleeping exactly the
# computed wait; without this tolerance the waiter would spin on ever-tinier sleeps.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BucketLimits:
    burst: float
    per_s: float
    reserve: float = 0.0  # tokens never spent, against drift from ARM's own bucket


@dataclass(frozen=True, slots=True)
class AimdPolicy:
    """Additive increase (``increase`` per window of successes), multiplicative decrease.

    A decrease needs ``decrease_after`` 429s within ``decrease_cooldown_s``: the client's buckets
    already pace requests to ARM's rate, so one or two stray 429s are drift between the two
    buckets (the bucket pause absorbs them), while overload shows as 429s that keep coming.
    Halving on a stray 429 cost ~10 s of a 174 s run at N = 1,000: additive increase does not
    win 250 slots back within a run.
    """

    initial: int = 500  # start unconstrained: the buckets prevent 429s, AIMD reacts to them
    minimum: int = 1
    maximum: int = 500
    increase: float = 1.0
    decrease_factor: float = 0.5
    decrease_cooldown_s: float = 5.0  # one burst of 429s is one decrease, not fifty
    decrease_after: int = 3  # 429s within the cooldown window before a decrease


@dataclass(frozen=True, slots=True)
class ArmLimits:
    """Per-subscription bucket sizes and refill rates (ARM's public-cloud defaults, per
    principal) and the concurrency policy. Lower them for trial subscriptions or sharing."""

    # Writes pace the whole run at ARM's refill rate, so they ride the edge of ARM's bucket:
    # they keep a reserve. Reads are budgeted below ARM's rate by the poll schedule, and a
    # stray delete 429 only delays a cleanup.
    reads: BucketLimits = BucketLimits(burst=250, per_s=25)
    writes: BucketLimits = BucketLimits(burst=200, per_s=10, reserve=2)
    deletes: BucketLimits = BucketLimits(burst=200, per_s=10)
    concurrency: AimdPolicy = field(default_factory=AimdPolicy)
    # Tokens a subscription's buckets start with (subscription id, lower case -> kind ->
    # tokens); a bucket not named starts full. Production mode hands a subscription's buckets
    # from one shard to the next this way (docs/readme/temporal.md, "How a run is split").
    start_tokens: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_kind(self, kind: BucketKind) -> BucketLimits:
        return {"read": self.reads, "write": self.writes, "delete": self.deletes}[kind]


class TokenBucket:
    """A token bucket on an injected clock. Waiters queue FIFO behind one lock, so an empty or
    paused bucket has one sleeper, not a crowd polling it."""

    def __init__(self, limits: BucketLimits, clock: Clock, tokens: float | None = None) -> None:
        self.capacity = float(limits.burst)
        self.rate_per_s = float(limits.per_s)
        # Never more than the bucket can hold, or it would never serve anyone.
        self.reserve = max(0.0, min(float(limits.reserve), self.capacity - 1.0))
        self._clock = clock
        self._tokens = self.capacity if tokens is None else max(0.0, min(self.capacity, tokens))
        self._updated = clock.now()
        self.paused_until = float("-inf")
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(
                self.capacity, self._tokens + (now - self._updated) * self.rate_per_s
            )
            self._updated = now

    @property
    def tokens(self) -> float:
        self._refill(self._clock.now())
        return self._tokens

    def wait_s(self) -> float:
        """Seconds until one token may be taken (0 when one is available now)."""
        now = self._clock.now()
        if now < self.paused_until:
            return self.paused_until - now
        self._refill(now)
        need = 1.0 + self.reserve
        if self._tokens >= need - _EPSILON:
            return 0.0
        return (need - self._tokens) / self.rate_per_s

    def try_take(self) -> bool:
        if self.wait_s() > 0.0:
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        return True

    async def acquire(self) -> float:
        """Take one token, sleeping on the clock while none is available; returns time waited."""
        start = self._clock.now()
        async with self._lock:
            while not self.try_take():
                await self._clock.sleep(self.wait_s())
        return self._clock.now() - start

    def correct(self, remaining: float) -> None:
        """ARM's count of what is left is authoritative when it is lower than ours."""
        self._refill(self._clock.now())
        self._tokens = min(self._tokens, max(0.0, remaining))

    def pause(self, seconds: float) -> bool:
        """Stop the bucket for ``seconds``; True if that extended the pause (a new pause)."""
        now = self._clock.now()
        until = now + max(0.0, seconds)
        if until <= self.paused_until:
            return False
        self.paused_until = until
        # Restart with a single spendable token when the pause ends: the callers held back
        # by the pause then leave one by one at the refill rate, not all at once.
        self._tokens = 1.0 + self.reserve
        self._updated = until
        return True


class Throttle:
    """All buckets of one client (one principal), created on first use per subscription."""

    def __init__(self, limits: ArmLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets: dict[tuple[str, BucketKind], TokenBucket] = {}

    def bucket(self, subscription_id: str, kind: BucketKind) -> TokenBucket:
        key = (subscription_id.lower(), kind)
        found = self._buckets.get(key)
        if found is None:
            start = self._limits.start_tokens.get(key[0], {}).get(kind)
            found = self._buckets[key] = TokenBucket(self._limits.for_kind(kind), self._clock, start)
        return found

    def levels(self) -> dict[str, dict[str, float]]:
        """Tokens in every bucket (all kinds) of each subscription used so far, now; a paused
        bucket has none."""
        now = self._clock.now()
        out: dict[str, dict[str, float]] = {}
        for subscription in sorted({s for s, _ in self._buckets}):
            for kind in KINDS:
                bucket = self.bucket(subscription, kind)
                out.setdefault(subscription, {})[kind] = (
                    0.0 if now < bucket.paused_until else bucket.tokens)
        return out

    async def acquire(self, subscription_id: str, kind: BucketKind) -> float:
        return await self.bucket(subscription_id, kind).acquire()

    def observe(self, subscription_id: str, kind: BucketKind, headers: Mapping[str, str]) -> None:
        """Correct the bucket from ``x-ms-ratelimit-remaining-subscription-<kind>s``."""
        value = headers.get(f"x-ms-ratelimit-remaining-subscription-{kind}s")
        if value is None:
            return
        try:
            remaining = float(value)
        except ValueError:
            return
        self.bucket(subscription_id, kind).correct(remaining)

    def pause(self, subscription_id: str, kind: BucketKind, seconds: float) -> bool:
        return self.bucket(subscription_id, kind).pause(seconds)


class ConcurrencyController:
    """How many jobs may be in flight: AIMD on 429s, with a cooldown so one burst of 429s is
    one decrease. The engine either reads ``limit`` or holds a ``slot()`` per job."""

    def __init__(self, policy: AimdPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._limit = float(max(policy.minimum, min(policy.maximum, policy.initial)))
        self._ceiling = float(policy.maximum)
        self._last_decrease = float("-inf")
        self._recent: deque[float] = deque()  # times of the 429s not yet acted on
        self._in_flight = 0
        self._changed = asyncio.Condition()
        self.decreases = 0

    @property
    def limit(self) -> int:
        return int(self._limit)

    def cap(self, ceiling: int) -> None:
        """Never allow more than ``ceiling`` (the rollout's own max concurrency), so the first
        decrease halves what is really in flight rather than an unused headroom."""
        self._limit = max(float(self._policy.minimum), min(self._limit, float(ceiling)))
        self._ceiling = float(max(self._policy.minimum, ceiling))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def on_success(self) -> None:
        # +increase per "window" of `limit` successes: the classic congestion-avoidance step.
        self._limit = min(self._ceiling, self._limit + self._policy.increase / self._limit)

    def on_throttle(self) -> bool:
        """Count a 429; shrink the limit once ``decrease_after`` of them fell within the
        cooldown window, unless it was shrunk within the cooldown. True if it shrank."""
        now = self._clock.now()
        window = self._policy.decrease_cooldown_s
        self._recent.append(now)
        while self._recent and now - self._recent[0] > window:
            self._recent.popleft()
        if len(self._recent) < max(1, self._policy.decrease_after):
            return False
        if now - self._last_decrease < window:
            return False
        self._last_decrease = now
        self._recent.clear()
        self._limit = max(float(self._policy.minimum), self._limit * self._policy.decrease_factor)
        self.decreases += 1
        return True

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of ``limit`` places for the duration of a job."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
        try:
            yield
        finally:
            async with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()
