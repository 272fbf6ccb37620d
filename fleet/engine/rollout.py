"""The rollout: waves in order, a sliding window inside each wave, error budgets, breach
actions (halt, abort, continue) and rollback.

Budget rule: a budget of N (or P% of its base, rounded down) trips when failures *exceed* it;
``0`` trips on the first failure. The base of a percent is the wave's machine count for
``failures_per: wave`` and the selected machine count for ``run``. Unreachable machines have
their own budget and never count as failures.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.engine.classify import evaluate_when
from fleet.engine.events import Observer, RunEvent, WaveEvent
from fleet.engine.jobs import JobRunner
from fleet.engine.options import Clock, EngineOptions
from fleet.engine.preflight import preflight
from fleet.journal import Journal, utc_now
from fleet.plan.model import Job, Plan, RolloutPolicy
from fleet.types import JobState, MachineRef

__all__ = ["Rollout", "RolloutOutcome", "resolve_amount"]


def resolve_amount(value: str | int | None, base: int, *, minimum: int = 0) -> int | None:
    """``"10%"`` of ``base`` rounded down (at least ``minimum``), or a plain count."""
    if value is None:
        return None
    text = str(value).strip()
    if text.endswith("%"):
        return max(minimum, math.floor(float(text[:-1]) * base / 100))
    return max(minimum, int(text))


@dataclass
class RolloutOutcome:
    breached: bool = False
    breach_reason: str | None = None
    halted_at_wave: int | None = None
    interrupted: bool = False
    machine_states: dict[str, JobState] = field(default_factory=dict)


class Rollout:
    def __init__(
        self,
        plan: Plan,
        *,
        arm: Any,
        runner: JobRunner,
        journal: Journal,
        clock: Clock,
        options: EngineOptions,
        emit: Observer,
    ) -> None:
        self._plan = plan
        self._arm = arm
        self._runner = runner
        self._journal = journal
        self._clock = clock
        self._options = options
        self._emit = emit
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
        self._dispatched: set[str] = set()

    # -- the run ---------------------------------------------------------------------------
    async def run(self) -> RolloutOutcome:
        waves = self._plan.waves
        for position, wave in enumerate(waves):
            if self.outcome.breached and self._policy.on_breach != "continue":
                self._skip_wave(wave.index, wave.label, wave.machines, "halted by the rollout policy")
                continue
            await self._run_wave(wave.index, wave.label, wave.machines)
            last = position == len(waves) - 1
            if not last and not self.outcome.breached and self._policy.pause_s > 0:
                self._emit(RunEvent(f"pausing {self._policy.pause_s}s before the next wave"))
                await self._clock.sleep(self._policy.pause_s)
        if self.outcome.breached and self._plan.rollback_jobs and self._policy.rollback_on == "breach":
            await self._run_rollback()
        return self.outcome

    def _skip_wave(self, index: int, label: str, machines: Sequence[MachineRef], why: str) -> None:
        self._journal.set_wave(index, label, len(machines), "skipped")
        self._emit(WaveEvent(index, label, len(machines), "skipped"))
        for machine in machines:
            for job in self._jobs[machine.key]:
                self._runner.skip(job, why)
            self.outcome.machine_states[machine.key] = JobState.SKIPPED

    async def _run_wave(self, index: int, label: str, machines: Sequence[MachineRef]) -> None:
        self._journal.set_wave(index, label, len(machines), "running", started_at=utc_now())
        self._emit(WaveEvent(index, label, len(machines), "started"))
        reachable = list(machines)
        if self._options.preflight:
            reach = await preflight(
                self._arm,
                machines,
                min_agent=self._options.min_agent_version,
                list_threshold=self._options.preflight_list_threshold,
            )
            reachable = []
            unreachable_in_wave = 0
            for machine in machines:
                verdict = reach[machine.key]
                if verdict.reachable:
                    reachable.append(machine)
                    continue
                unreachable_in_wave += 1
                reason = verdict.reason or "unreachable"
                for job in self._jobs[machine.key]:
                    self._runner.mark(job, JobState.UNREACHABLE, reason)
                self.outcome.machine_states[machine.key] = JobState.UNREACHABLE
            self._unreachable_run += unreachable_in_wave
            self._check_unreachable(unreachable_in_wave, len(machines))
        failures_in_wave = 0
        window = resolve_amount(self._policy.max_concurrency, len(machines), minimum=1) or 1
        slow = 1 if self._policy.slow_start else window
        pending = list(reachable)
        running: dict[asyncio.Task[JobState], MachineRef] = {}
        try:
            while pending or running:
                stop_launching = self.outcome.breached and self._policy.on_breach != "continue"
                if stop_launching and pending:
                    for machine in pending:
                        for job in self._jobs[machine.key]:
                            self._runner.skip(job, "halted by the rollout policy")
                        self.outcome.machine_states[machine.key] = JobState.SKIPPED
                    pending = []
                limit = min(window, slow, self._arm_limit())
                while pending and len(running) < limit:
                    machine = pending.pop(0)
                    task = asyncio.get_running_loop().create_task(self._machine(machine))
                    running[task] = machine
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    machine = running.pop(task)
                    state = task.result() if not task.cancelled() else JobState.CANCELED
                    self.outcome.machine_states[machine.key] = state
                    if state == JobState.SUCCEEDED and slow < window:
                        slow = min(window, slow * 2)
                    if self._counts_as_failure(state):
                        failures_in_wave += 1
                        self._failures_run += 1
                        self._check_failures(failures_in_wave, len(machines))
                        if self.outcome.breached and self._policy.on_breach == "abort":
                            await self._abort(running)
                            running.clear()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        state = "halted" if self.outcome.breached else "done"
        self._journal.set_wave(index, label, len(machines), state, ended_at=utc_now())
        self._emit(WaveEvent(index, label, len(machines), state))

    def _arm_limit(self) -> int:
        controller = getattr(self._arm, "concurrency", None)
        limit = getattr(controller, "limit", None)
        return int(limit) if isinstance(limit, int | float) and limit >= 1 else 1_000_000

    async def _abort(self, running: dict[asyncio.Task[JobState], MachineRef]) -> None:
        for task in running:
            task.cancel()
        results = await asyncio.gather(*running, return_exceptions=True)
        for machine, result in zip(running.values(), results, strict=True):
            state = result if isinstance(result, JobState) else JobState.CANCELED
            self.outcome.machine_states[machine.key] = state

    # -- one machine: its steps in order ---------------------------------------------------
    async def _machine(self, machine: MachineRef) -> JobState:
        results: dict[str, dict[str, Any]] = {}
        final = JobState.SUCCEEDED
        blocked_by: str | None = None
        for job in self._jobs[machine.key]:
            if job.when:
                try:
                    go = evaluate_when(job.when, {"steps": results, "previous": _last(results)})
                except ValueError as error:
                    self._runner.mark(job, JobState.ERROR, str(error))
                    final = JobState.ERROR
                    results[job.step] = _result(JobState.ERROR)
                    continue
                if not go:
                    self._runner.skip(job, f"when: {job.when} is false")
                    results[job.step] = _result(JobState.SKIPPED)
                    continue
            elif blocked_by is not None:
                self._runner.skip(job, f"step {blocked_by!r} did not succeed")
                results[job.step] = _result(JobState.SKIPPED)
                continue
            self._dispatched.add(machine.key)
            state = await self._runner.run(job)
            results[job.step] = _result(state)
            if state != JobState.SUCCEEDED:
                blocked_by = blocked_by or job.step
                if final == JobState.SUCCEEDED:
                    final = state
        return final

    # -- budgets ---------------------------------------------------------------------------
    def _counts_as_failure(self, state: JobState) -> bool:
        if state == JobState.TIMED_OUT:
            return self._policy.count_timeout_as_failure
        return state.is_failure

    def _check_failures(self, in_wave: int, wave_size: int) -> None:
        if self.outcome.breached:
            return
        per_wave = self._policy.failures_per == "wave"
        base = wave_size if per_wave else self._total
        budget = resolve_amount(self._policy.max_failures, base)
        count = in_wave if per_wave else self._failures_run
        if budget is not None and count > budget:
            self._breach(f"{count} failed machine(s) exceed the failure budget of {budget}")

    def _check_unreachable(self, in_wave: int, wave_size: int) -> None:
        if self.outcome.breached:
            return
        per_wave = self._policy.failures_per == "wave"
        base = wave_size if per_wave else self._total
        budget = resolve_amount(self._policy.max_unreachable, base)
        count = in_wave if per_wave else self._unreachable_run
        if budget is not None and count > budget:
            self._breach(f"{count} unreachable machine(s) exceed the unreachable budget of {budget}")

    def _breach(self, reason: str) -> None:
        self.outcome.breached = True
        self.outcome.breach_reason = reason
        action = self._policy.on_breach
        self._emit(RunEvent(f"rollout policy breached: {reason}; action: {action}", "warning"))

    # -- rollback --------------------------------------------------------------------------
    async def _run_rollback(self) -> None:
        targets = self._policy.rollback_targets
        chosen: list[MachineRef] = []
        for wave in self._plan.waves:
            for machine in wave.machines:
                state = self.outcome.machine_states.get(machine.key)
                ran = machine.key in self._dispatched
                if (
                    (targets == "ran" and ran)
                    or (targets == "failed" and ran and state is not None and state.is_failure)
                    or (targets == "succeeded" and state == JobState.SUCCEEDED)
                ):
                    chosen.append(machine)
        self._emit(RunEvent(f"rolling back {len(chosen)} machine(s)", "warning"))
        self._journal.set_wave(-1, "rollback", len(chosen), "running", started_at=utc_now())
        self._emit(WaveEvent(-1, "rollback", len(chosen), "started"))
        window = resolve_amount(self._policy.max_concurrency, max(1, len(chosen)), minimum=1) or 1
        semaphore = asyncio.Semaphore(window)

        async def one(machine: MachineRef) -> None:
            async with semaphore:
                blocked = False
                for job in self._rollback[machine.key]:
                    if blocked:
                        self._runner.skip(job, "an earlier rollback step did not succeed")
                        continue
                    if await self._runner.run(job) != JobState.SUCCEEDED:
                        blocked = True

        await asyncio.gather(*(one(m) for m in chosen))
        self._journal.set_wave(-1, "rollback", len(chosen), "done", ended_at=utc_now())
        self._emit(WaveEvent(-1, "rollback", len(chosen), "done"))


def _result(state: JobState) -> dict[str, Any]:
    return {
        "state": state.value,
        "succeeded": state == JobState.SUCCEEDED,
        "failed": state.is_failure or state == JobState.CANCELED,
        "skipped": state == JobState.SKIPPED,
    }


def _last(results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    return next(reversed(results.values()), None) if results else None
