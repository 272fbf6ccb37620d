"""One shared poll schedule for every running job, instead of one sleeping loop per machine.

Each waiting job has a due time; one task wakes at the earliest, sends the GETs that are due
and reschedules the rest. Per-job intervals follow the fleet's observed run times (the first
poll lands near the median, not seconds after dispatch), and the whole schedule is spread so
it never plans more GETs per second than the read budget allows.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fleet.engine.classify import is_terminal
from fleet.engine.options import Clock, PollPolicy
from fleet.errors import FleetError

__all__ = ["PollOutcome", "PollScheduler"]

Fetch = Callable[[], Awaitable[Any]]  # returns a RunCommandView or None (404)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    view: Any  # the last RunCommandView seen (None: never seen)
    polls: int
    terminal: bool
    vanished: bool = False  # GET answered 404: the run command is gone
    error: str | None = None


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    fetch: Fetch = field(compare=False)
    deadline: float = field(compare=False)
    interval: float = field(compare=False)
    future: asyncio.Future[PollOutcome] = field(compare=False)
    polls: int = field(default=0, compare=False)
    last: Any = field(default=None, compare=False)
    on_poll: Callable[[], None] | None = field(default=None, compare=False)


class PollScheduler:
    def __init__(self, clock: Clock, policy: PollPolicy) -> None:
        self._clock = clock
        self._policy = policy
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._durations: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._last_slot = 0.0

    # -- observations ----------------------------------------------------------------------
    def observe_duration(self, seconds: float) -> None:
        """A job finished after ``seconds``: future first polls aim near the median."""
        self._durations.append(seconds)
        if len(self._durations) > 500:
            del self._durations[:250]

    def expected_duration(self) -> float | None:
        return statistics.median(self._durations) if len(self._durations) >= 3 else None

    # -- waiting ---------------------------------------------------------------------------
    async def wait(
        self,
        fetch: Fetch,
        *,
        deadline: float,
        on_poll: Callable[[], None] | None = None,
    ) -> PollOutcome:
        """Poll ``fetch`` on the shared schedule until terminal, gone, or ``deadline``."""
        self._ensure_running()
        loop = asyncio.get_running_loop()
        now = self._clock.now()
        expected = self.expected_duration()
        first = self._policy.first_poll_s
        if expected is not None:
            first = max(self._policy.min_interval_s, expected * self._policy.median_fraction)
        entry = _Entry(
            due=min(now + first, deadline),
            seq=next(self._seq),
            fetch=fetch,
            deadline=deadline,
            interval=max(self._policy.min_interval_s, first / 2),
            future=loop.create_future(),
            on_poll=on_poll,
        )
        heapq.heappush(self._heap, entry)
        self._wake.set()
        return await entry.future

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="fleet-poller")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        for entry in self._heap:
            if not entry.future.done():
                entry.future.cancel()

    # -- the schedule ----------------------------------------------------------------------
    def _slot(self, wanted: float) -> float:
        """Spread GETs so the schedule stays within the read budget."""
        spacing = 1.0 / self._policy.read_budget_per_s
        slot = max(wanted, self._last_slot + spacing)
        self._last_slot = slot
        return slot

    async def _loop(self) -> None:
        while True:
            self._heap = [e for e in self._heap if not e.future.done()]
            heapq.heapify(self._heap)
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = self._clock.now()
            head = self._heap[0]
            if head.due > now:
                self._wake.clear()
                sleeper = asyncio.ensure_future(self._clock.sleep(head.due - now))
                waker = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
                waker.cancel()
                continue
            entry = heapq.heappop(self._heap)
            task = asyncio.get_running_loop().create_task(self._poll(entry))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _poll(self, entry: _Entry) -> None:
        if entry.future.done():
            return
        try:
            view = await entry.fetch()
        except FleetError as error:
            entry.polls += 1
            self._reschedule(entry, error=str(error))
            return
        entry.polls += 1
        if entry.on_poll is not None:
            entry.on_poll()
        if view is None:
            entry.future.set_result(PollOutcome(entry.last, entry.polls, False, vanished=True))
            return
        entry.last = view
        if is_terminal(view):
            entry.future.set_result(PollOutcome(view, entry.polls, True))
            return
        self._reschedule(entry)

    def _reschedule(self, entry: _Entry, error: str | None = None) -> None:
        if entry.future.done():
            return
        now = self._clock.now()
        if now >= entry.deadline:
            entry.future.set_result(PollOutcome(entry.last, entry.polls, False, error=error))
            return
        entry.interval = min(self._policy.max_interval_s, entry.interval * self._policy.backoff)
        entry.interval = max(self._policy.min_interval_s, entry.interval)
        entry.due = min(self._slot(now + entry.interval), entry.deadline)
        entry.seq = next(self._seq)
        heapq.heappush(self._heap, entry)
        self._wake.set()
