"""One shared poll schedule for every running job, instead of one sleeping loop per machine.

Each waiting job has a due time; one task wakes at the earliest, sends the GETs that are due
and reschedules the rest. Where a GET goes follows the fleet's run-time distribution, estimated
as the run goes (``fleet.engine.survival``): a job is polled where it has a fair chance of being
done, not every few seconds from dispatch. Until the estimate knows enough, a few "scout" jobs
are polled on a geometric schedule and the others wait for what the scouts learn (a wait with
no GET). Once polled, a job is polled again within ``lag_fraction`` of its age, so a long-tail
job is never seen finished much later than it did. The whole schedule is spread so it never
plans more GETs per second than the read budget allows.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleet.engine.classify import is_terminal
from fleet.engine.options import Clock, PollPolicy
from fleet.engine.survival import SurvivalEstimate
from fleet.errors import FleetError

if TYPE_CHECKING:
    from fleet.arm.models import RunCommandView

__all__ = ["PollOutcome", "PollScheduler"]

Fetch = Callable[[], Awaitable["RunCommandView | None"]]  # None: 404


@dataclass(frozen=True, slots=True)
class PollOutcome:
    view: RunCommandView | None  # the last view seen (None: never seen)
    polls: int
    terminal: bool
    vanished: bool = False  # GET answered 404: the run command is gone
    error: str | None = None


@dataclass(order=True, slots=True)
class _Entry:
    due: float
    seq: int
    fetch: Fetch = field(compare=False)
    deadline: float = field(compare=False)
    future: asyncio.Future[PollOutcome] = field(compare=False)
    started: float = field(compare=False)
    scout: bool = field(compare=False)
    index: int = field(compare=False)
    on_poll: Callable[[], None] | None = field(default=None, compare=False)
    polls: int = field(default=0, compare=False)
    last: RunCommandView | None = field(default=None, compare=False)
    alive_age: float = field(default=0.0, compare=False)  # age at the last GET that saw it run
    get: bool = field(default=True, compare=False)  # at ``due``: GET (else only re-plan)
    error_wait: float = field(default=0.0, compare=False)


class PollScheduler:
    def __init__(self, clock: Clock, policy: PollPolicy) -> None:
        self._clock = clock
        self._policy = policy
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._registered = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._live: dict[int, _Entry] = {}
        self._last_slot = 0.0
        self._finished: list[float] = []
        self._own_finishes = 0  # durations we measured, so observe_duration does not recount
        self._estimate: SurvivalEstimate | None = None
        self._built_at = float("-inf")
        self._changes = 0  # observations new since the estimate was built
        self._built_size = 0  # observations the estimate was built from

    # -- observations ----------------------------------------------------------------------
    def observe_duration(self, seconds: float) -> None:
        """A job finished after ``seconds``. Durations the schedule saw itself are already
        counted; others (e.g. from an earlier run) seed the estimate."""
        if self._own_finishes > 0:
            self._own_finishes -= 1
            return
        self._finished.append(seconds)
        self._changes += 1

    def _current_estimate(self, now: float) -> SurvivalEstimate | None:
        if not self._finished and not self._live:
            return self._estimate
        stale = self._estimate is None or now - self._built_at >= self._policy.estimate_every_s
        grew = self._estimate is not None and len(self._finished) >= 2 * max(
            1, self._estimate.completions
        )
        enough = self._changes >= self._policy.estimate_change_fraction * self._built_size
        if self._changes and ((stale and enough) or grew):
            alive = [e.alive_age for e in self._live.values() if e.polls > 0]
            self._estimate = SurvivalEstimate(self._finished, alive)
            self._built_at = now
            self._built_size = len(self._finished) + len(alive)
            self._changes = 0
        return self._estimate

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
        now = self._clock.now()
        index = next(self._registered)
        every = max(1, self._policy.scout_every)
        entry = _Entry(
            due=now,
            seq=next(self._seq),
            fetch=fetch,
            deadline=deadline,
            future=asyncio.get_running_loop().create_future(),
            started=now,
            scout=index % every == 0,
            index=index,
            on_poll=on_poll,
        )
        self._live[index] = entry
        self._plan(entry, now)
        try:
            return await entry.future
        finally:
            self._live.pop(index, None)

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
    def _next_get(self, entry: _Entry, now: float) -> tuple[float, bool]:
        """When to look at ``entry`` next, and whether that look is a GET."""
        p = self._policy
        a0 = entry.alive_age
        polled = entry.polls > 0
        if entry.error_wait > 0:
            return now + entry.error_wait, True
        estimate = self._current_estimate(now)
        # Scouts explore until the estimate has a median (from them, or seeded by
        # observe_duration); after that every job follows the estimate.
        exploring = entry.scout and (estimate is None or estimate.median() is None)
        if exploring:  # a scout: a plain geometric schedule from first_poll_s
            if not polled:
                return max(now, entry.started + p.first_poll_s), True
            # The body's ratio, not the tail's: every 10th job exploring at 15 % steps spent
            # ~14 GETs each before a 20 s median was known (1.4 reads per machine at N = 100).
            return max(now, entry.started + a0 + self._lag(a0, p.body_lag_fraction)), True
        tail = estimate is not None and estimate.survival(a0) <= p.tail_survival
        lag = self._lag(a0, p.lag_fraction if tail else p.body_lag_fraction)
        target = None
        if estimate is not None:
            if not polled:
                median = estimate.median()
                target = None if median is None else median * p.median_fraction
            else:
                remaining = estimate.survival(a0) * (1.0 - p.step_fraction)
                target = estimate.age_at_survival(remaining)
        if target is not None:
            if polled:
                target = min(max(target, a0 + p.min_interval_s), a0 + lag)
            return max(now, entry.started + target), True
        if polled:  # past what the estimate knows: keep within the lag
            return max(now, entry.started + a0 + lag), True
        age_now = now - entry.started
        if age_now >= p.max_interval_s:
            return now, True
        # No median yet: the scouts are still learning. Look again later, without a GET.
        wait = min(p.max_interval_s - age_now, max(p.min_interval_s, age_now * p.lag_fraction))
        return now + wait, False

    def _lag(self, age: float, fraction: float) -> float:
        p = self._policy
        return min(p.max_interval_s, max(p.min_interval_s, age * fraction))

    def _plan(self, entry: _Entry, now: float) -> None:
        if entry.future.done():
            return
        due, get = self._next_get(entry, now)
        if due >= entry.deadline:
            due, get = entry.deadline, True
        if get:
            due = self._slot(due)
            due = min(due, max(entry.deadline, now))
        entry.due, entry.get = due, get
        entry.seq = next(self._seq)
        heapq.heappush(self._heap, entry)
        self._wake.set()

    def _slot(self, wanted: float) -> float:
        """Spread GETs so the schedule stays within the read budget."""
        spacing = 1.0 / self._policy.read_budget_per_s
        slot = max(wanted, self._last_slot + spacing)
        self._last_slot = slot
        return slot

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Finished entries are dropped lazily as they surface (no O(n) sweep per GET).
            while self._heap and self._heap[0].future.done():
                heapq.heappop(self._heap)
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
            if not entry.get and now < entry.deadline:
                self._plan(entry, now)
                continue
            task = loop.create_task(self._poll(entry))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _poll(self, entry: _Entry) -> None:
        """One GET for ``entry``. Whatever goes wrong here reaches the job waiting on it: an
        error in a callback (the journal's disk filled up while counting the poll) used to
        end this task silently and leave the job waiting for ever."""
        try:
            await self._poll_once(entry)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not entry.future.done():
                entry.future.set_exception(error)

    async def _poll_once(self, entry: _Entry) -> None:
        if entry.future.done():
            return
        sent_age = self._clock.now() - entry.started
        try:
            view = await entry.fetch()
        except FleetError as error:
            if entry.future.done():  # the waiting job was cancelled during the GET
                return
            entry.polls += 1
            entry.error_wait = min(
                self._policy.max_interval_s,
                max(self._policy.min_interval_s, entry.error_wait * self._policy.backoff),
            )
            self._reschedule(entry, error=str(error))
            return
        if entry.future.done():  # the waiting job was cancelled during the GET
            return
        entry.error_wait = 0.0
        entry.polls += 1
        if entry.on_poll is not None:
            entry.on_poll()
        if view is None:
            entry.future.set_result(PollOutcome(entry.last, entry.polls, False, vanished=True))
            return
        entry.last = view
        if is_terminal(view):
            # It ended somewhere in (last seen running, now]: take the middle.
            self._finished.append((entry.alive_age + sent_age) / 2)
            self._own_finishes += 1
            self._changes += 1
            entry.future.set_result(PollOutcome(view, entry.polls, True))
            return
        entry.alive_age = sent_age
        self._changes += 1
        self._reschedule(entry)

    def _reschedule(self, entry: _Entry, error: str | None = None) -> None:
        if entry.future.done():
            return
        now = self._clock.now()
        if now >= entry.deadline:
            entry.future.set_result(PollOutcome(entry.last, entry.polls, False, error=error))
            return
        self._plan(entry, now)
