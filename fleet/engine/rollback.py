"""Rollback: after a breach, run the playbook's rollback steps on the machines that ran the
change (or only those that failed, or succeeded), as a wave of their own (-1 in the journal)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from fleet.engine.amounts import resolve_amount
from fleet.engine.events import Observer, RunEvent, WaveEvent
from fleet.engine.jobs import JobRunner
from fleet.journal import Journal, job_key, utc_now
from fleet.plan.model import Job, Plan
from fleet.report.recap import plural
from fleet.types import JobState, MachineRef

__all__ = ["NOT_A_TARGET", "run_rollback"]

NOT_A_TARGET = "not a rollback target"  # the reason of a non-target's rollback rows


def rollback_targets(
    plan: Plan, states: Mapping[str, JobState], ran: Callable[[MachineRef], bool]
) -> list[MachineRef]:
    targets = plan.rollout.rollback_targets
    chosen: list[MachineRef] = []
    for wave in plan.waves:
        for machine in wave.machines:
            state = states.get(machine.key)
            did_run = ran(machine)
            if (
                (targets == "ran" and did_run)
                or (targets == "failed" and did_run and state is not None and state.is_failure)
                or (targets == "succeeded" and state == JobState.SUCCEEDED)
            ):
                chosen.append(machine)
    return chosen


async def run_rollback(
    plan: Plan,
    steps: Mapping[str, Sequence[Job]],
    states: Mapping[str, JobState],
    *,
    ran: Callable[[MachineRef], bool],
    runner: JobRunner,
    journal: Journal,
    emit: Observer,
) -> None:
    chosen = rollback_targets(plan, states, ran)
    emit(RunEvent(f"rolling back {plural(len(chosen), 'machine')}", "warning"))
    journal.set_wave(-1, "rollback", len(chosen), "running", started_at=utc_now())
    emit(WaveEvent(-1, "rollback", len(chosen), "started"))
    window = resolve_amount(plan.rollout.max_concurrency, max(1, len(chosen)), minimum=1) or 1
    semaphore = asyncio.Semaphore(window)

    async def one(machine: MachineRef) -> None:
        async with semaphore:
            blocked = False
            for job in steps[machine.key]:
                if blocked:
                    runner.skip(job, "an earlier rollback step did not succeed")
                    continue
                if await runner.run(job) != JobState.SUCCEEDED:
                    blocked = True

    await asyncio.gather(*(one(m) for m in chosen))
    chosen_keys = {m.key for m in chosen}
    for job in plan.rollback_jobs:
        if job.machine.key not in chosen_keys:
            row = journal.job(job_key(job.machine, job.step, True))
            if row is not None and row.state == JobState.PENDING:
                runner.skip(job, NOT_A_TARGET)
    journal.set_wave(-1, "rollback", len(chosen), "done", ended_at=utc_now())
    emit(WaveEvent(-1, "rollback", len(chosen), "done"))
