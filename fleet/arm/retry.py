"""What is retried, how often and how long: the retry policy as a value, plus one budget per
logical call.

Retried: 5xx answers, 408, timeouts and dropped connections (capped exponential backoff with
jitter, at most ``max_attempts`` attempts), and 429s (after the bucket's ``Retry-After``
pause; these do not count as attempts). Everything respects ``deadline_s`` from the start of
the logical call. A server ``Retry-After`` on a 5xx wins over the computed backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleet.arm.clock import Clock

__all__ = ["RETRYABLE_STATUSES", "RetryBudget", "RetryPolicy", "backoff_s", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6  # attempts (not retries) for 5xx/transport failures, per logical call
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5  # the delay is drawn from [(1 - jitter) * d, d]
    deadline_s: float = 300.0  # per logical call, 429 pauses included
    request_timeout_s: float = 60.0  # per HTTP exchange
    default_retry_after_s: float = 5.0  # a 429 without a usable Retry-After
    max_retry_after_s: float = 120.0  # a larger Retry-After is treated as this


def backoff_s(policy: RetryPolicy, attempt: int, rand: Callable[[], float]) -> float:
    """The delay after failed attempt number ``attempt`` (1-based): exponential, capped, jittered."""
    ceiling = min(
        policy.max_backoff_s, policy.initial_backoff_s * policy.multiplier ** max(0, attempt - 1)
    )
    return ceiling * (1.0 - policy.jitter * rand())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None if absent or unparsable.

    (ARM sends delta-seconds; an HTTP-date is treated as unusable and falls back to policy.)
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class RetryBudget:
    """Attempts and deadline of one logical call (a PUT with its re-PUTs is one call)."""

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self.started = clock.now()
        self.attempts = 0  # counted failures eligible for backoff (5xx, transport)

    @property
    def remaining_s(self) -> float:
        return self.policy.deadline_s - (self._clock.now() - self.started)

    def allows_wait(self, delay_s: float) -> bool:
        return delay_s <= self.remaining_s

    def next_backoff(self, rand: Callable[[], float]) -> float | None:
        """Count one failed attempt; the delay before the next, or None if out of budget."""
        self.attempts += 1
        if self.attempts >= self.policy.max_attempts:
            return None
        delay = backoff_s(self.policy, self.attempts, rand)
        return delay if self.allows_wait(delay) else None
