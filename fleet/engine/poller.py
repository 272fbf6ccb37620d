"""One shared poll schedule for every running job, instead of one sleeping loop per machine.

Each waiting job has a due time; one task wakes at the earliest, sends the GETs that are due
and reschedules the rest. Where a GET goes follows the fleet's run-time distribution, estimated
as the run goes (``fleet.engine.survival``): a job's first GET comes where most jobs of the
fleet are done (``first_survival`` still running), so most jobs cost one GET, not a GET that
mostly finds them running. Until the estimate reaches that far, a few "scout" jobs are polled
on a geometric schedule and the others wait for what the scouts learn (a wait with no GET).
Once polled, a job is polled again where most of the jobs still running at its last look will
have finished, within ``body_lag_fraction`` of its age; only the tail of the last few jobs of a
draining fleet (which set the makespan) is watched within ``lag_fraction``. The whole schedule
is spread so it never plans more GETs in any second than the read budget allows.
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

_GOLDEN = 0.6180339887498949  # steps of a low-discrepancy sequence in [0, 1)

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
        self._slots: dict[int, int] = {}  # GETs planned per second of the clock
        self._slots_from = 0  # seconds before this one are past (pruned)
        self._finished: list[float] = []
        self._own_finishes = 0  # durations we measured, so observe_duration does not recount
        self._estimate: SurvivalEstimate | None = None
        self._built_at = float("-inf")
        self._changes = 0  # observations new since the estimate was built
        self._built_size = 0  # observations the estimate was built from
        self._spread = 0.0  # where the next imputed end falls within its interval
        self._drain_noted = False
        self._last_joined = float("inf")  # when the latest job joined (draining: none since)

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
            scout=index % every == 0 and index // every < self._policy.scouts,
            index=index,
            on_poll=on_poll,
        )
        self._live[index] = entry
        self._last_joined = now
        self._drain_noted = False
        self._plan(entry, now)
        try:
            return await entry.future
        finally:
            self._live.pop(index, None)
            if len(self._live) == self._policy.last_jobs:
                self._replan_all()

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
        # Where a job's first GET goes: where most jobs are done, so that one GET is enough
        # for most and few GETs find a job still running. Scouts explore until the estimate
        # (from them, or seeded by observe_duration) reaches that far; the others wait.
        first = None if estimate is None else estimate.age_at_survival(p.first_survival)
        exploring = entry.scout and first is None
        if exploring:  # a scout: a plain geometric schedule from first_poll_s
            if not polled:
                return max(now, entry.started + p.first_poll_s), True
            # The body's ratio, not the tail's: every 10th job exploring at 15 % steps spent
            # ~14 GETs each before a 20 s median was known (1.4 reads per machine at N = 100).
            return max(now, entry.started + a0 + self._lag(a0, p.scout_lag_fraction)), True
        # Only the jobs that end last set the makespan: the tail is watched closely only
        # when they are among the last few of a draining fleet (no job joined for a while).
        # Before, a tail job's lag costs nothing but its slot, and every look is a read.
        tail = estimate is not None and estimate.survival(a0) <= p.tail_survival
        lag = self._lag(a0, p.lag_fraction if tail and self._closing(now)
                        else p.body_lag_fraction)
        target = None
        if estimate is not None:
            if not polled:
                target = first
            else:
                remaining = estimate.survival(a0) * (1.0 - p.step_fraction)
                target = estimate.age_at_survival(remaining)
        if target is not None:
            if polled:
                target = min(max(target, a0 + p.min_interval_s), a0 + lag)
            return max(now, entry.started + target), True
        if polled:  # past what the estimate knows: keep within the lag
            return max(now, entry.started + a0 + lag), True
        # The scouts are still learning. Look again later, without a GET, but GET by
        # max_interval_s of age. (That time itself, not now + the age left: a sum rounded
        # to ``now`` re-planned the same instant for ever on a virtual clock.)
        give_up = entry.started + p.max_interval_s
        if now >= give_up:
            return now, True
        wait = max(p.min_interval_s, (now - entry.started) * p.lag_fraction)
        return min(give_up, now + wait), False

    def _lag(self, age: float, fraction: float) -> float:
        p = self._policy
        return min(p.max_interval_s, max(p.min_interval_s, age * fraction))

    def _closing(self, now: float) -> bool:
        """The fleet is draining (no job joined for ``drain_quiet_s``) and few jobs are left."""
        p = self._policy
        return now - self._last_joined >= p.drain_quiet_s and len(self._live) <= p.last_jobs

    def _replan_all(self) -> None:
        """Plan every waiting job's next look again (the last few of a draining fleet: their
        looks were planned for a fleet that was not). A GET already on the wire is left."""
        now = self._clock.now()
        if not self._closing(now):
            return
        waiting = [e for e in self._heap if not e.future.done() and e.error_wait == 0]
        self._heap = [e for e in self._heap if not e.future.done() and e.error_wait > 0]
        heapq.heapify(self._heap)
        for entry in waiting:
            self._plan(entry, now)

    def _plan(self, entry: _Entry, now: float) -> None:
        if entry.future.done():
            return
        due, get = self._next_get(entry, now)
        if due >= entry.deadline:
            due, get = entry.deadline, True
        if get:
            due = self._slot(due, now)
            due = min(due, max(entry.deadline, now))
        entry.due, entry.get = due, get
        entry.seq = next(self._seq)
        heapq.heappush(self._heap, entry)
        self._wake.set()

    def _slot(self, wanted: float, now: float) -> float:
        """The first time from ``wanted`` on with room in the read budget: at most
        ``read_budget_per_s`` GETs planned in any second of the clock. A GET planned far ahead
        does not hold back one planned later for sooner (a single "next free slot" did: every
        re-poll queued behind the latest first poll, ~20 s ahead, and was seen that late)."""
        budget = max(1, int(self._policy.read_budget_per_s))
        current = int(now)
        if current > self._slots_from:
            for second in [s for s in self._slots if s < current]:
                del self._slots[second]
            self._slots_from = current
        second = max(int(wanted), current)
        while self._slots.get(second, 0) >= budget:
            second += 1
        taken = self._slots.get(second, 0)
        self._slots[second] = taken + 1
        if second == int(wanted):
            return wanted
        return second + taken / budget  # spread within the second

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
            if not self._drain_noted and now - self._last_joined >= self._policy.drain_quiet_s:
                self._drain_noted = True  # draining from here: maybe the last few already
                self._replan_all()
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
            self._finished.append(self._ended_at(entry.alive_age, sent_age))
            self._own_finishes += 1
            self._changes += 1
            entry.future.set_result(PollOutcome(view, entry.polls, True))
            return
        entry.alive_age = sent_age
        self._changes += 1
        self._reschedule(entry)

    def _ended_at(self, alive_age: float, done_age: float) -> float:
        """The age a job ended at, known to lie in (alive_age, done_age]: spread within that
        interval the way the estimate so far says (its survival levels taken in a
        low-discrepancy sequence), or evenly where it does not reach yet. The interval's middle
        biased the estimate: a job first polled at 36 s and found done counted as an 18 s job,
        and the schedule chased its own bias (each first GET earlier than the last); one point
        for all (the interval's median) made a step there, with the same effect."""
        self._spread = (self._spread + _GOLDEN) % 1.0
        estimate = self._estimate
        last = None if estimate is None else estimate.last_event_age()
        if estimate is not None and last is not None and last >= done_age:
            high, low = estimate.survival(alive_age), estimate.survival(done_age)
            age = estimate.age_at_survival_between(low + (high - low) * self._spread)
            if age is not None and alive_age < age <= done_age:
                return age
        return done_age - (done_age - alive_age) * self._spread

    def _reschedule(self, entry: _Entry, error: str | None = None) -> None:
        if entry.future.done():
            return
        now = self._clock.now()
        if now >= entry.deadline:
            entry.future.set_result(PollOutcome(entry.last, entry.polls, False, error=error))
            return
        self._plan(entry, now)
