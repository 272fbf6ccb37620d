"""ARM's token buckets on the server side (API.md §5): per subscription and principal, and the
subscription's global bucket, for reads, writes and deletes; tenant buckets per principal for
tenant-level requests (``GET /subscriptions``). Refill is lazy, in simulated seconds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from fleet_sim.config import BucketSpec, ThrottleSpec

__all__ = ["Admission", "ThrottleBook", "TokenBucket"]


class TokenBucket:
    __slots__ = ("_last", "_now", "capacity", "refill_per_s", "tokens")

    def __init__(self, spec: BucketSpec, now: Callable[[], float]) -> None:
        self.capacity = spec.capacity
        self.refill_per_s = spec.refill_per_s
        self.tokens = spec.capacity
        self._now = now
        self._last = now()

    def refill(self) -> None:
        now = self._now()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.refill_per_s)
        self._last = now

    def seconds_until_token(self) -> int:
        """Whole seconds until one token is available (at least 1, as ARM's Retry-After)."""
        if self.refill_per_s <= 0:
            return 3600
        return max(1, math.ceil((1.0 - self.tokens) / self.refill_per_s))


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    kind: str  # "reads", "writes" or "deletes"
    scope: str  # "subscription" or "tenant"
    remaining: int  # principal (or tenant) bucket after this request
    remaining_global: int | None
    retry_after_s: int = 0


class ThrottleBook:
    """All buckets of one simulator. A request needs a token from every bucket that applies."""

    def __init__(self, spec: ThrottleSpec, now: Callable[[], float]) -> None:
        self.spec = spec
        self._now = now
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}

    def _bucket(self, key: tuple[str, ...], spec: BucketSpec) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(spec, self._now)
        bucket.refill()
        return bucket

    def _spec(self, kind: str) -> BucketSpec:
        spec: BucketSpec = getattr(self.spec, kind)
        return spec

    def admit(self, kind: str, principal: str, subscription: str | None) -> Admission:
        """Take one token for a ``kind`` request, or say how long to wait."""
        spec = self._spec(kind)
        if subscription is None:
            tenant = self._bucket(("tenant", principal, kind), spec)
            return self._take(kind, "tenant", [tenant], tenant, None)
        mine = self._bucket(("sub", subscription, principal, kind), spec)
        factor = self.spec.global_factor
        shared = self._bucket(
            ("global", subscription, kind),
            BucketSpec(spec.capacity * factor, spec.refill_per_s * factor),
        )
        return self._take(kind, "subscription", [mine, shared], mine, shared)

    def _take(
        self,
        kind: str,
        scope: str,
        buckets: list[TokenBucket],
        mine: TokenBucket,
        shared: TokenBucket | None,
    ) -> Admission:
        remaining_global = None if shared is None else int(shared.tokens)
        if not self.spec.enabled:
            return Admission(True, kind, scope, int(mine.tokens), remaining_global)
        empty = [b for b in buckets if b.tokens < 1.0]
        if empty:
            wait = max(b.seconds_until_token() for b in empty)
            return Admission(False, kind, scope, int(mine.tokens), remaining_global, wait)
        for bucket in buckets:
            bucket.tokens -= 1.0
        remaining_global = None if shared is None else int(shared.tokens)
        return Admission(True, kind, scope, int(mine.tokens), remaining_global)
