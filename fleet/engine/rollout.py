"""The rollout: waves in order, a sliding window inside each wave, error budgets, breach
actions (halt, abort, continue) and rollback.

Budget rule: a budget of N (or P% of its base, rounded down) trips when failures *exceed* it;
``0`` trips on the first failure. The base of a percent is the wave's machine count for
``failures_per: wave`` and the selected machine count for ``run``. Unreachable machines have
their own budget and never count as failures.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from fleet.engine.amounts import resolve_amount
from fleet.engine.events import Observer, RunEvent, WaveEvent
from fleet.engine.fairqueue import FairQueue
from fleet.engine.jobs import JobRunner
from fleet.engine.options import Clock, EngineOptions
from fleet.engine.preflight import preflight
from fleet.engine.rollback import run_rollback
from fleet.engine.steps import machine_state, run_machine
from fleet.errors import RunStoppedError
from fleet.failpoints import Failpoints
from fleet.journal import Journal, job_key, utc_now
from fleet.plan.model import Job, Plan
from fleet.report.recap import plural
from fleet.types import JobState, MachineRef, RolloutPolicy, canceled_by_operator

if TYPE_CHECKING:
    from fleet.arm.models import ArmStats
    from fleet.arm.protocol import ArmApi

__all__ = ["STOP_KINDS", "BudgetBase", "Rollout", "RolloutOutcome", "StopKind", "resolve_amount"]


Approver = Callable[[int, str], Awaitable[bool]]
# interrupted: Ctrl-C or SIGTERM (resumable); canceled: `fleet cancel`
StopKind = Literal["interrupted", "canceled"]
STOP_KINDS: tuple[StopKind, ...] = get_args(StopKind)


@dataclass
class RolloutOutcome:
    breached: bool = False
    breach_reason: str | None = None
    stopped: StopKind | None = None
    awaiting_approval: int | None = None  # the wave after which the run waits for approval
    machine_states: dict[str, JobState] = field(default_factory=dict)
    preflight_status: dict[str, str | None] = field(default_factory=dict)  # what ARM said


@dataclass(frozen=True, slots=True)
class BudgetBase:
    """What a rollout over part of a wave (a production-mode shard) must count its budgets
    against: the whole wave's and run's sizes, and the failures and unreachable machines the
    rest of the wave and run already had. The embedded mode passes none (its plan is whole)."""

    wave_size: int
    run_size: int
    failed_in_wave: int = 0
    failed_in_run: int = 0
    unreachable_in_wave: int = 0
    unreachable_in_run: int = 0


class Rollout:
    """Runs a plan's waves. Driven by the journal: on resume, finished jobs are taken from it
    and only the rest runs, with budgets recounted from what already happened."""

    def __init__(
        self,
        plan: Plan,
        *,
        arm: ArmApi,
        runner: JobRunner,
        journal: Journal,
        clock: Clock,
        options: EngineOptions,
        emit: Observer,
        approver: Approver | None = None,
        failpoints: Failpoints | None = None,
        budget_base: BudgetBase | None = None,
        rollback_only: str | None = None,
    ) -> None:
        self._plan = plan
        self._base = budget_base
        self._rollback_only = rollback_only
        self._arm = arm
        self._runner = runner
        self._journal = journal
        self._clock = clock
        self._options = options
        self._emit = emit
        self._approver = approver
        self._failpoints = failpoints or Failpoints({})
        self._policy: RolloutPolicy = plan.rollout
        self._jobs: dict[str, list[Job]] = defaultdict(list)
        for job in sorted(plan.jobs, key=lambda j: j.step_index):
            self._jobs[job.machine.key].append(job)
        self._rollback: dict[str, list[Job]] = defaultdict(list)
        for job in sorted(plan.rollback_jobs, key=lambda j: j.step_index):
            self._rollback[job.machine.key].append(job)
        self._total = sum(len(w.machines) for w in plan.waves)
        self.outcome = RolloutOutcome()
        self._failures_run = 0
        self._unreachable_run = 0
        if budget_base is not None:
            self._total = budget_base.run_size
            self._failures_run = budget_base.failed_in_run
            self._unreachable_run = budget_base.unreachable_in_run
        self._running: dict[asyncio.Task[JobState], MachineRef] = {}

    # -- control from outside (signals, `fleet cancel`) ------------------------------------
    def stop(self, how: StopKind, *, stop_in_flight: bool = False) -> None:
        """Stop the run from outside. ``interrupted`` (Ctrl-C, SIGTERM): launch nothing new,
        leave the rest pending for ``fleet resume``; in-flight jobs finish unless
        ``stop_in_flight`` (Ctrl-C twice). ``canceled`` (``fleet cancel``): stop in-flight jobs;
        what was not started stays pending too, so ``fleet resume`` can continue it. Jobs the
        operator stopped are ``canceled`` and never count as failures."""
        if self.outcome.stopped == "canceled":
            return
        first = self.outcome.stopped is None
        self.outcome.stopped = how
        if first:
            self._emit(RunEvent(f"run {how}: launching nothing new", "warning"))
        if how == "canceled" or stop_in_flight:
            self._runner.cancel_reason = (
                "canceled by the operator" if how == "canceled" else "interrupted (stopped in flight)"
            )
            if self._running:
                self._emit(RunEvent(f"stopping {plural(len(self._running), 'in-flight machine')}", "warning"))
            for task in self._running:
                task.cancel()

    def breach(self, reason: str) -> None:
        """A budget tripped elsewhere (another shard of the wave): act as if it tripped here
        (halt: launch nothing new; abort: also stop what runs)."""
        if self.outcome.breached:
            return
        self._breach(reason)
        if self._policy.on_breach == "abort":
            for task in self._running:
                if not task.cancelling():
                    task.cancel()

    def counts_as_failure(self, state: JobState) -> bool:
        return self._counts_as_failure(state)

    def arm_stats(self) -> ArmStats:
        """What the run's ARM client did so far, and its buckets' tokens now."""
        return self._arm.stats()

    # -- the run ---------------------------------------------------------------------------
    async def run(self) -> RolloutOutcome:
        if self._rollback_only is not None:
            return await self._rollback_after(self._rollback_only)
        waves = self._plan.waves
        approved_through = int(self._journal.meta().get("approved_through", "-1"))
        for position, wave in enumerate(waves):
            if self.outcome.stopped:
                break
            if self.outcome.breached and self._policy.on_breach != "continue":
                self._skip_wave(wave.index, wave.label, wave.machines, "halted by the rollout policy")
                continue
            await self._run_wave(wave.index, wave.label, wave.machines)
            last = position == len(waves) - 1
            if last or self.outcome.stopped or self.outcome.breached:
                continue
            self._failpoints.hit("between_waves")
            if self._policy.approve and wave.index > approved_through:
                if not await self._approve(wave.index, waves[position + 1].label):
                    self.outcome.awaiting_approval = wave.index
                    self._journal.set_meta(awaiting_approval=str(wave.index))
                    how = f"fleet resume {self._journal.path.parent} --approve"
                    self._emit(RunEvent(
                        f"waiting for approval after wave {wave.index + 1}: continue with `{how}`",
                        "warning"))
                    return self.outcome
                approved_through = wave.index
                self._journal.set_meta(approved_through=str(wave.index), awaiting_approval="")
            if self._policy.pause_s > 0 and self._wave_needed_work:
                self._emit(RunEvent(f"pausing {self._policy.pause_s}s before the next wave"))
                await self._clock.sleep(self._policy.pause_s)
        if (
            not self.outcome.stopped
            and self.outcome.breached
            and self._plan.rollback_jobs
            and self._policy.rollback_on == "breach"
        ):
            await self._run_rollback()
        return await self._finish()

    async def _finish(self) -> RolloutOutcome:
        if not self.outcome.stopped:
            await self._cleanup_orphans()
        elif self.outcome.stopped == "canceled":
            await self._stop_untended()
        if self.fatal is not None:
            raise self.fatal
        return self.outcome

    async def _rollback_after(self, reason: str) -> RolloutOutcome:
        """Production mode's rollback shard: the run breached (``reason``) and its waves are
        over; the machines' outcomes are in the journal (restored from the wave shards'
        results). Run only the rollback, exactly as ``run`` would after its last wave."""
        self.outcome.breached = True
        self.outcome.breach_reason = reason
        for wave in self._plan.waves:
            for machine in wave.machines:
                known = self._journal_state(machine)
                if known is not None:
                    self.outcome.machine_states[machine.key] = known
        if not self.outcome.stopped and self._plan.rollback_jobs:
            await self._run_rollback()
        return await self._finish()

    fatal: RunStoppedError | None = None

    async def _approve(self, after_wave: int, next_label: str) -> bool:
        if self._approver is None:
            return False
        return await self._approver(after_wave, next_label)

    def _skip_wave(self, index: int, label: str, machines: Sequence[MachineRef], why: str) -> None:
        self._journal.set_wave(index, label, len(machines), "skipped")
        self._emit(WaveEvent(index, label, len(machines), "skipped"))
        for machine in machines:
            for job in self._jobs[machine.key]:
                self._runner.skip(job, why)
            self.outcome.machine_states[machine.key] = JobState.SKIPPED

    # -- one wave --------------------------------------------------------------------------
    def _journal_state(self, machine: MachineRef) -> JobState | None:
        """The machine's state if the journal says all its jobs are finished, else None."""
        states = []
        for job in self._jobs[machine.key]:
            row = self._journal.job(job_key(job.machine, job.step))
            if row is None or not row.state.terminal:
                return None
            states.append(row)
        return machine_state([row.state for row in states])

    def _operator_canceled(self, machine: MachineRef) -> bool:
        rows = [self._journal.job(job_key(j.machine, j.step)) for j in self._jobs[machine.key]]
        return any(row is not None and canceled_by_operator(row.state.value, row.reason) for row in rows)

    def _untouched(self, machine: MachineRef) -> bool:
        rows = [self._journal.job(job_key(j.machine, j.step)) for j in self._jobs[machine.key]]
        return all(row is None or row.state == JobState.PENDING for row in rows)

    async def _run_wave(self, index: int, label: str, machines: Sequence[MachineRef]) -> None:
        self._journal.set_wave(index, label, len(machines), "running", started_at=utc_now())
        self._emit(WaveEvent(index, label, len(machines), "started"))
        failures_in_wave = 0
        unreachable_in_wave = 0
        todo: list[MachineRef] = []
        for machine in machines:  # what the journal already knows (resume) counts first
            known = self._journal_state(machine)
            if known is None:
                todo.append(machine)
                continue
            self.outcome.machine_states[machine.key] = known
            if known == JobState.UNREACHABLE:
                unreachable_in_wave += 1
            elif known == JobState.CANCELED and self._operator_canceled(machine):
                pass  # the operator's own stop (an earlier session): never a failure
            elif self._counts_as_failure(known):
                failures_in_wave += 1
        self._wave_needed_work = bool(todo)
        self._failures_run += failures_in_wave
        self._unreachable_run += unreachable_in_wave
        self._check_failures(failures_in_wave, len(machines))
        fresh = [m for m in todo if self._untouched(m)]
        if self._options.preflight and fresh:
            reach = await preflight(
                self._arm,
                fresh,
                min_agent=self._options.min_agent_version,
                list_threshold=self._options.preflight_list_threshold,
            )
            self.outcome.preflight_status.update({k: r.status for k, r in reach.items()})
            for machine in fresh:
                verdict = reach[machine.key]
                if verdict.reachable:
                    continue
                todo.remove(machine)
                unreachable_in_wave += 1
                self._unreachable_run += 1
                for job in self._jobs[machine.key]:
                    self._runner.mark(job, JobState.UNREACHABLE, verdict.reason or "unreachable")
                self.outcome.machine_states[machine.key] = JobState.UNREACHABLE
        self._check_unreachable(unreachable_in_wave, len(machines))
        window = resolve_amount(self._policy.max_concurrency, len(machines), minimum=1) or 1
        for subscription in {m.subscription_id.lower() for m in todo}:
            self._arm.concurrency_for(subscription).cap(window)
        slow = 1 if self._policy.slow_start else window
        pending = FairQueue(todo)
        running = self._running
        try:
            while pending or running:
                halted = self.outcome.breached and self._policy.on_breach != "continue"
                if halted and pending:
                    why = "halted by the rollout policy"
                    for machine in pending.drain():
                        for job in self._jobs[machine.key]:
                            self._runner.skip(job, why)
                        self.outcome.machine_states[machine.key] = JobState.SKIPPED
                if self.outcome.stopped:
                    pending.drain()  # interrupted or canceled: the rest stays pending, for `fleet resume`
                limit = min(window, slow)
                while pending and len(running) < limit:
                    chosen = pending.pop(self._subscription_limit)
                    if chosen is None:  # every subscription with work is at its own limit
                        break
                    pending.started(chosen)
                    task = asyncio.get_running_loop().create_task(self._machine(chosen))
                    running[task] = chosen
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    machine = running.pop(task)
                    pending.finished(machine)
                    error = None if task.cancelled() else task.exception()
                    if isinstance(error, RunStoppedError):
                        # The run folder cannot be written: stop like Ctrl-C (resumable).
                        self.fatal = self.fatal or error
                        self.stop("interrupted")
                        continue
                    if error is not None:
                        raise error
                    state = task.result() if not task.cancelled() else JobState.CANCELED
                    self.outcome.machine_states[machine.key] = state
                    if state == JobState.SUCCEEDED and slow < window:
                        slow = min(window, slow * 2)
                    if self._counts_as_failure(state):
                        failures_in_wave += 1
                        self._failures_run += 1
                        self._check_failures(failures_in_wave, len(machines))
                        if self.outcome.breached and self._policy.on_breach == "abort":
                            for other in running:
                                if not other.cancelling():  # once: a second cancel would cut
                                    other.cancel()  # its DELETE short (then sent again)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                for machine in running.values():
                    self.outcome.machine_states[machine.key] = JobState.CANCELED
                running.clear()
        self._check_verify(index, machines)
        ended: Literal["halted", "stopped", "done"] = "halted" if self.outcome.breached else ("stopped" if self.outcome.stopped else "done")
        self._journal.set_wave(index, label, len(machines), ended, ended_at=utc_now())
        self._emit(WaveEvent(index, label, len(machines), ended))

    _wave_needed_work = False

    def _subscription_limit(self, subscription_id: str) -> int:
        """How many of one subscription's machines may be in flight: its own AIMD limit."""
        limit: int = self._arm.concurrency_for(subscription_id).limit
        return max(1, limit)

    def _check_verify(self, index: int, machines: Sequence[MachineRef]) -> None:
        """A ``verify:`` step is a health gate: if it did not pass on every machine of the
        wave that ran it, the next wave does not start."""
        step = self._policy.verify_step
        if step is None or self.outcome.breached:
            return
        bad = 0
        for machine in machines:
            for job in self._jobs[machine.key]:
                if job.step != step:
                    continue
                row = self._journal.job(job_key(job.machine, job.step))
                if row is not None and row.state not in (
                    JobState.SUCCEEDED, JobState.UNREACHABLE, JobState.PENDING
                ):
                    if row.state != JobState.SKIPPED or "halted" not in (row.reason or ""):
                        bad += 1
        if bad:
            self._breach(f"verify step {step!r} did not pass on {plural(bad, 'machine')} of wave {index + 1}")

    # -- one machine: its steps in order ---------------------------------------------------
    async def _machine(self, machine: MachineRef) -> JobState:
        return await run_machine(self._jobs[machine.key], journal=self._journal, runner=self._runner)

    # -- budgets ---------------------------------------------------------------------------
    def _counts_as_failure(self, state: JobState) -> bool:
        if state == JobState.TIMED_OUT:
            return self._policy.count_timeout_as_failure
        return state.is_failure or (state == JobState.CANCELED and self.outcome.stopped is None)

    def _check_failures(self, in_wave: int, wave_size: int) -> None:
        base = self._base
        if base is not None:
            in_wave, wave_size = in_wave + base.failed_in_wave, base.wave_size
        self._check_budget("failed", self._policy.max_failures, in_wave, self._failures_run, wave_size)

    def _check_unreachable(self, in_wave: int, wave_size: int) -> None:
        base = self._base
        if base is not None:
            in_wave, wave_size = in_wave + base.unreachable_in_wave, base.wave_size
        self._check_budget(
            "unreachable", self._policy.max_unreachable, in_wave, self._unreachable_run, wave_size
        )

    def _check_budget(
        self, what: str, budget_value: str | None, in_wave: int, in_run: int, wave_size: int
    ) -> None:
        """A budget trips when its count *exceeds* it; its base is the wave or the run."""
        if self.outcome.breached:
            return
        per_wave = self._policy.failures_per == "wave"
        budget = resolve_amount(budget_value, wave_size if per_wave else self._total)
        count = in_wave if per_wave else in_run
        if budget is not None and count > budget:
            kind = "failure" if what == "failed" else what
            verb = "exceeds" if count == 1 else "exceed"
            self._breach(f"{count} {what} {'machine' if count == 1 else 'machines'} {verb} the "
                         f"{kind} budget of {budget}")

    def _breach(self, reason: str) -> None:
        self.outcome.breached = True
        self.outcome.breach_reason = reason
        action = self._policy.on_breach
        self._emit(RunEvent(f"rollout policy breached: {reason}; action: {action}", "warning"))

    # -- rollback and cleanup --------------------------------------------------------------
    async def _run_rollback(self) -> None:
        await run_rollback(
            self._plan, self._rollback, self.outcome.machine_states, ran=self._ran,
            runner=self._runner, journal=self._journal, emit=self._emit,
        )

    def _ran(self, machine: MachineRef) -> bool:
        rows = [self._journal.job(job_key(j.machine, j.step)) for j in self._jobs[machine.key]]
        return any(row is not None and row.attempts > 0 for row in rows)

    async def _stop_untended(self) -> None:
        """``fleet cancel``: a job that may have been sent but that no task watches (adopted
        after a restart and not yet polled, or left pending when the stop came) is stopped
        too: ``canceled``, its run command deleted. It is never left to look untouched."""
        jobs = [*self._plan.jobs, *self._plan.rollback_jobs]
        untended = []
        for job in jobs:
            row = self._journal.job(job_key(job.machine, job.step, job.rollback))
            if row is not None and row.state in (JobState.DISPATCHED, JobState.RUNNING):
                untended.append(job)
        if untended:
            self._emit(RunEvent(f"stopping {plural(len(untended), 'machine')} sent before the "
                                "cancel and not yet watched", "warning"))
        await asyncio.gather(*(self._runner.stop(job) for job in untended))
        for job in untended:
            self.outcome.machine_states[job.machine.key] = JobState.CANCELED

    async def _cleanup_orphans(self) -> None:
        """Run commands of finished jobs that a crash left undeleted (between journaling the
        result and deleting the resource). Deleting twice is harmless (404)."""
        if self._options.keep_run_commands:
            return
        by_key = {job_key(j.machine, j.step, j.rollback): j for j in (*self._plan.jobs, *self._plan.rollback_jobs)}
        orphans = [by_key[row.job_key] for row in self._journal.uncleaned() if row.job_key in by_key]
        await asyncio.gather(*(self._runner.cleanup(job) for job in orphans))
