"""What is retried, how often and how long: the retry policy as a value, and ``Retrying``, the
one retry driver both ARM clients (``ArmClient``, ``GraphClient``) use.

The rules, in one place:

- Retried: 5xx and 408 answers and retryable transport failures (timeouts, dropped
  connections), after a capped exponential backoff with jitter, at most ``max_attempts``
  attempts. A server ``Retry-After`` wins over the computed backoff.
- A 429 is waited out for its ``Retry-After`` (else ``default_retry_after_s``) and does not
  count as an attempt. Any ``Retry-After`` larger than ``max_retry_after_s`` counts as that.
- A 401 is retried once, at once, with a fresh token.
- Every wait respects ``deadline_s`` from the start of the logical call: a wait that would end
  past the deadline is not taken. The call stops *now*, with the error in hand, instead of
  sleeping past its deadline to fail then, or retrying sooner than the server asked.
- Waits go through the injected clock, so tests never sleep; ``random`` (in [0, 1)) draws the
  jitter, so tests fix it.

What the driver does not decide: whether an outcome is safe to repeat. A write whose outcome is
unknown is the caller's to reconcile (``ArmClient.put_run_command`` GETs before it re-PUTs).

Usage (one logical call; ``continue`` waits and starts the next attempt)::

    retrying = Retrying(policy, clock, random, on_retry=hook)
    async for attempt in retrying.attempts():
        response = await exchange(force_refresh=attempt.force_refresh)
        if response.status in RETRYABLE_STATUSES and attempt.retry_after_failure(
                str(response.status), parse_retry_after(response.header("retry-after"))):
            continue
        return response
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fleet.clock import Clock

__all__ = [
    "RETRYABLE_STATUSES",
    "Attempt",
    "OnRetry",
    "RetryPolicy",
    "Retrying",
    "backoff_s",
    "parse_retry_after",
]

RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})

OnRetry = Callable[[int, float, str], None]  # (the attempt that failed, delay_s, reason)


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


@dataclass(frozen=True, slots=True)
class _Next:
    delay_s: float
    sleep: bool
    refresh: bool


class Retrying:
    """The attempts and deadline of one logical call (a PUT with its re-PUTs is one call: its
    loops share one ``Retrying``)."""

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Clock,
        random: Callable[[], float],
        *,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._random = random
        self._on_retry = on_retry
        self.started = clock.now()
        self.failures = 0  # failed attempts counted against max_attempts (5xx, transport)

    @property
    def remaining_s(self) -> float:
        return self.policy.deadline_s - (self._clock.now() - self.started)

    def allows_wait(self, delay_s: float) -> bool:
        return delay_s <= self.remaining_s

    def next_backoff(self, retry_after_s: float | None = None) -> float | None:
        """Count one failed attempt; the wait before the next one, or None: stop now.

        The wait is the server's ``retry_after_s`` when it gave one (capped at
        ``max_retry_after_s``), else the jittered exponential backoff. None when this was
        attempt ``max_attempts``, or when the wait would end past the deadline (see the
        module docstring: stop with the error rather than sleep past the deadline).
        """
        self.failures += 1
        if self.failures >= self.policy.max_attempts:
            return None
        if retry_after_s is None:
            delay = backoff_s(self.policy, self.failures, self._random)
        else:
            delay = min(retry_after_s, self.policy.max_retry_after_s)
        return delay if self.allows_wait(delay) else None

    def throttle_pause_s(self, retry_after_s: float | None) -> float:
        """How long a 429 asks to wait: the server's hint (else the policy's default), capped
        at ``max_retry_after_s``. Whether the deadline allows it is ``allows_wait``'s."""
        pause = self.policy.default_retry_after_s if retry_after_s is None else retry_after_s
        return min(pause, self.policy.max_retry_after_s)

    async def wait(self, attempt: int, delay_s: float, reason: str, *, sleep: bool = True) -> None:
        """Announce the retry after failed ``attempt`` (``on_retry``), then wait ``delay_s`` on
        the clock (unless ``sleep`` is False: something else waits)."""
        if self._on_retry is not None:
            self._on_retry(attempt, delay_s, reason)
        if sleep and delay_s > 0:
            await self._clock.sleep(delay_s)

    def attempts(self) -> AsyncIterator[Attempt]:
        """Attempt 1, then one more each time the body schedules a retry on the attempt it
        got (and ``continue``s); the wait happens before the next attempt is handed out.
        The body ends the loop by returning or raising."""
        return _Attempts(self)


class Attempt:
    """One attempt of a loop. Its ``retry_*`` methods decide whether there is a next one:
    True schedules it (``continue`` then waits and starts it), False means stop now."""

    def __init__(self, retrying: Retrying, number: int, force_refresh: bool,
                 refreshed: bool) -> None:
        self.number = number  # 1-based, per loop
        self.force_refresh = force_refresh  # ask the credential for a new token first
        self.refreshed = refreshed  # a fresh token was already tried in this loop
        self.scheduled: _Next | None = None  # set by a retry_* method that returned True
        self.reason = ""
        self._retrying = retrying

    def retry_after_failure(self, reason: str, retry_after_s: float | None = None) -> bool:
        """A 5xx, 408 or transport failure: backoff (or the server's ``Retry-After``),
        counted against ``max_attempts`` and the deadline."""
        delay = self._retrying.next_backoff(retry_after_s)
        return delay is not None and self._schedule(delay, reason, sleep=True)

    def retry_after_throttle(self, pause_s: float, reason: str = "429", *,
                             sleep: bool = True) -> bool:
        """A 429: try again after ``pause_s`` (see ``Retrying.throttle_pause_s``), not counted
        as an attempt; False if the pause would end past the deadline. ``sleep=False`` when
        something else does the waiting (ARM's paused token bucket)."""
        if not self._retrying.allows_wait(pause_s):
            return False
        return self._schedule(pause_s, reason, sleep=sleep)

    def retry_with_new_token(self) -> bool:
        """A 401: once per loop, try again at once with a freshly issued token."""
        if self.refreshed:
            return False
        self.refreshed = True
        return self._schedule(0.0, "401", sleep=False, refresh=True)

    def _schedule(self, delay_s: float, reason: str, *, sleep: bool, refresh: bool = False) -> bool:
        self.scheduled = _Next(delay_s, sleep, refresh)
        self.reason = reason
        return True


class _Attempts:
    """The iterator behind ``Retrying.attempts`` (a class, not an async generator, so that
    leaving the loop leaves nothing to finalize)."""

    def __init__(self, retrying: Retrying) -> None:
        self._retrying = retrying
        self._last: Attempt | None = None

    def __aiter__(self) -> _Attempts:
        return self

    async def __anext__(self) -> Attempt:
        last = self._last
        if last is None:
            self._last = Attempt(self._retrying, 1, False, False)
            return self._last
        scheduled = last.scheduled
        if scheduled is None:
            raise RuntimeError("an attempt ended with neither a result nor a scheduled retry")
        await self._retrying.wait(last.number, scheduled.delay_s, last.reason,
                                  sleep=scheduled.sleep)
        self._last = Attempt(self._retrying, last.number + 1, scheduled.refresh,
                             last.refreshed)
        return self._last
