"""The shared poll schedule, on a virtual clock: no real waiting."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fleet.engine.options import PollPolicy
from fleet.engine.poller import PollScheduler
from fleet.errors import ArmError


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass
class View:
    execution_state: str | None
    provisioning_state: str | None = "Succeeded"
    exit_code: int | None = 0
    execution_message: str | None = None


def machine(clock: VirtualClock, done_at: float, log: list[float]):  # type: ignore[no-untyped-def]
    async def fetch() -> View:
        log.append(clock.now())
        return View("Succeeded" if clock.now() >= done_at else "Running")

    return fetch


async def test_polls_until_terminal_and_respects_read_budget() -> None:
    clock = VirtualClock()
    policy = PollPolicy(first_poll_s=2, min_interval_s=1, max_interval_s=8, read_budget_per_s=4)
    poller = PollScheduler(clock, policy)
    logs: list[list[float]] = [[] for _ in range(20)]
    outcomes = await asyncio.gather(
        *(poller.wait(machine(clock, 10 + i, logs[i]), deadline=1000) for i in range(20))
    )
    await poller.aclose()
    assert all(o.terminal for o in outcomes)
    for i, outcome in enumerate(outcomes):
        assert outcome.polls == len(logs[i]) >= 1
        assert logs[i][-1] >= 10 + i  # never declared done before it was
    # Never more than the budget: at most 4 GETs in any second of the clock.
    per_second = Counter(int(t) for log in logs for t in log)
    assert max(per_second.values()) <= 4
    assert len(per_second) < sum(per_second.values())  # it was tested: seconds were shared


async def test_deadline_returns_last_view_not_terminal() -> None:
    clock = VirtualClock()
    poller = PollScheduler(clock, PollPolicy(first_poll_s=1, min_interval_s=1, max_interval_s=2))
    log: list[float] = []
    outcome = await poller.wait(machine(clock, 10_000, log), deadline=30)
    await poller.aclose()
    assert not outcome.terminal and outcome.view.execution_state == "Running"
    assert max(log) <= 30


async def test_first_poll_follows_the_estimate() -> None:
    clock = VirtualClock()
    poller = PollScheduler(clock, PollPolicy(first_poll_s=1, min_interval_s=1,
                                             first_survival=0.25))  # fmt: skip
    for seconds in (100, 100, 100):
        poller.observe_duration(seconds)
    log: list[float] = []
    outcome = await poller.wait(machine(clock, 100, log), deadline=1000)
    await poller.aclose()
    assert log[0] >= 90  # did not waste reads in the first 90 s
    assert outcome.terminal and outcome.polls <= 3


async def test_vanished_run_command() -> None:
    clock = VirtualClock()
    poller = PollScheduler(clock, PollPolicy(first_poll_s=1))

    async def gone() -> None:
        return None

    outcome = await poller.wait(gone, deadline=100)
    await poller.aclose()
    assert outcome.vanished and outcome.polls == 1


async def test_only_scouts_poll_before_the_median_is_known() -> None:
    clock = VirtualClock()
    policy = PollPolicy(first_poll_s=1, min_interval_s=1, scout_every=10, read_budget_per_s=1000)
    poller = PollScheduler(clock, policy)
    logs: list[list[float]] = [[] for _ in range(40)]
    outcomes = await asyncio.gather(
        *(poller.wait(machine(clock, 20, logs[i]), deadline=1000) for i in range(40))
    )
    await poller.aclose()
    assert all(o.terminal for o in outcomes)
    scouts = {0, 10, 20, 30}
    early = {i for i, log in enumerate(logs) if any(t < 20 for t in log)}
    assert early == scouts  # the 36 others spent no GET while nothing could be done
    total = sum(len(log) for log in logs)
    assert total <= 40 * 2 + 4 * 8  # a couple of GETs each, the scouts a few more


async def test_tail_job_is_seen_done_within_the_lag_fraction() -> None:
    clock = VirtualClock()
    policy = PollPolicy(first_poll_s=1, min_interval_s=0.5, lag_fraction=0.15,
                        read_budget_per_s=1000)  # fmt: skip
    poller = PollScheduler(clock, policy)
    logs: list[list[float]] = [[] for _ in range(30)]
    done_at = [10.0] * 29 + [200.0]  # one long-tail job
    outcomes = await asyncio.gather(
        *(poller.wait(machine(clock, done_at[i], logs[i]), deadline=10_000) for i in range(30))
    )
    await poller.aclose()
    assert all(o.terminal for o in outcomes)
    seen_done = logs[-1][-1]
    assert 200 <= seen_done <= 200 * 1.15 + 1e-6


@dataclass
class OwnView(View):
    owner: int = -1


async def test_every_job_is_resolved_with_its_own_view() -> None:
    """Many jobs, GET errors, deadlines and out-of-order answers: an outcome only ever carries
    a view its own fetch returned (never a neighbour's)."""
    clock = VirtualClock()
    rng = random.Random(7)
    policy = PollPolicy(first_poll_s=1, min_interval_s=0.5, read_budget_per_s=50)
    poller = PollScheduler(clock, policy)

    def job(i: int, done_at: float) -> Any:
        async def fetch() -> OwnView:
            for _ in range(rng.randint(0, 3)):  # answers arrive out of order
                await asyncio.sleep(0)
            if rng.random() < 0.1:
                raise ArmError("transient")
            return OwnView("Succeeded" if clock.now() >= done_at else "Running", owner=i)

        return fetch

    done_at = [rng.lognormvariate(3, 0.6) for _ in range(300)]
    deadlines = [rng.choice([60.0, 10_000.0]) for _ in range(300)]
    outcomes = await asyncio.gather(
        *(poller.wait(job(i, done_at[i]), deadline=deadlines[i]) for i in range(300))
    )
    await poller.aclose()
    for i, outcome in enumerate(outcomes):
        assert outcome.view is None or outcome.view.owner == i
        if outcome.terminal:
            assert outcome.view.owner == i
        else:  # only a job with the short deadline may end without a verdict
            assert deadlines[i] == 60.0
    assert sum(o.terminal for o in outcomes) > 250


async def test_a_job_cancelled_during_its_get_leaves_no_failed_poll_task() -> None:
    """Abort or Ctrl-C cancels a job while its GET is on the wire: the answer is dropped, not
    set on the cancelled future (InvalidStateError in a task nobody awaits)."""
    clock = VirtualClock()
    poller = PollScheduler(clock, PollPolicy(first_poll_s=1))
    sent, answer = asyncio.Event(), asyncio.Event()

    async def fetch() -> View:
        sent.set()
        await answer.wait()
        return View("Succeeded")

    waiting = asyncio.ensure_future(poller.wait(fetch, deadline=100))
    await sent.wait()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    # The task that sent the GET (not the schedule's own loop, which runs until aclose).
    polls = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()
             and t.get_name() != "fleet-poller"]  # fmt: skip
    assert polls
    answer.set()
    results = await asyncio.gather(*polls, return_exceptions=True)
    await poller.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []


async def test_an_error_after_the_get_reaches_the_waiting_job() -> None:
    """The journal's disk filled up while counting a poll (on_poll raised): the job waiting
    on it gets the error. Before, the poll task died silently and the job waited for ever
    (the disk-full test hung one run in three)."""
    from fleet.errors import RunStoppedError

    clock = VirtualClock()
    poller = PollScheduler(clock, PollPolicy(first_poll_s=1))

    def full_disk() -> None:
        raise RunStoppedError("run folder: cannot write the journal (No space left on device)")

    try:
        waiting = poller.wait(machine(clock, 5, []), deadline=100, on_poll=full_disk)
        # wait_for is only a hang guard: the error arrives after one virtual GET.
        try:
            await asyncio.wait_for(waiting, timeout=60)
        except RunStoppedError as error:
            assert "No space left" in str(error)
        else:
            raise AssertionError("the job did not see the error")
    finally:
        await poller.aclose()


def test_a_get_planned_far_ahead_does_not_hold_back_a_sooner_one() -> None:
    """The read budget counts GETs per second of the clock. It used to be one "next free
    slot": a first GET planned 20 s ahead pushed every re-poll planned after it behind it."""
    poller = PollScheduler(VirtualClock(), PollPolicy(read_budget_per_s=2))
    assert poller._slot(100.0, now=0.0) == 100.0
    assert poller._slot(1.5, now=0.0) == 1.5  # not behind the GET at 100 s
    assert poller._slot(1.2, now=0.0) == 1.2
    assert 2.0 <= poller._slot(1.7, now=0.0) < 3.0  # second 1 is full: the next one
    assert poller._slot(0.5, now=10.0) >= 10.0  # never in the past


async def test_the_tail_is_watched_closely_only_among_the_last_jobs_of_a_draining_fleet() -> None:
    """A long job while others keep joining is polled within body_lag_fraction of its age
    (its lag costs nothing but its slot); once it is among the last jobs of a fleet no job
    joined for drain_quiet_s, within lag_fraction (it sets the makespan)."""
    clock = VirtualClock()
    policy = PollPolicy(first_poll_s=1, min_interval_s=0.5, body_lag_fraction=0.5,
                        lag_fraction=0.05, drain_quiet_s=5, last_jobs=3,
                        read_budget_per_s=1000)  # fmt: skip
    poller = PollScheduler(clock, policy)
    for _ in range(20):
        poller.observe_duration(10)
    long_log: list[float] = []
    joined = asyncio.Event()

    async def joiners() -> None:  # one 10 s job joining every 2 s until t = 200
        waits = []
        while clock.now() < 200:
            waits.append(asyncio.ensure_future(
                poller.wait(machine(clock, clock.now() + 10, []), deadline=10_000)))
            joined.set()
            await clock.sleep(2)
        await asyncio.gather(*waits)

    feeding = asyncio.ensure_future(joiners())
    await joined.wait()
    outcome = await poller.wait(machine(clock, 400, long_log), deadline=10_000)
    await feeding
    await poller.aclose()
    assert outcome.terminal
    while_joining = [b - a for a, b in itertools.pairwise(long_log) if b < 200]
    draining = [(a, b) for a, b in itertools.pairwise(long_log) if a > 230]
    assert while_joining and max(while_joining) >= 0.3 * 100  # loose while others join
    assert draining and all(b - a <= 0.05 * a + 1e-6 for a, b in draining)
    assert long_log[-1] <= 400 * 1.05 + 1e-6
