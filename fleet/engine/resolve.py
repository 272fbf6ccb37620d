"""``unknown`` jobs on resume: the run command may have run and is gone (issue #13, A3).

Each one is looked up again first (it may have reappeared, or its output blob may now show it
started). What still cannot be told waits for the operator: ``fleet resume RUN_DIR
--resolve-unknown skip|resend [MACHINE...]``: ``skip`` never sends it again, ``resend`` sends
it once more (the operator's decision: it may have run already).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from fleet.engine.events import Observer, RunEvent
from fleet.engine.jobs import JobRunner
from fleet.errors import UsageError
from fleet.journal import Journal, job_key
from fleet.plan.model import Job, Plan
from fleet.types import JobState

__all__ = ["SKIPPED_UNKNOWN", "Resolution", "settle_unknown"]

SKIPPED_UNKNOWN = "outcome unknown: not sent again (--resolve-unknown skip)"


@dataclass(frozen=True, slots=True)
class Resolution:
    """The operator's word on ``unknown`` jobs (``fleet resume --resolve-unknown``): ``skip``
    (never send it again) or ``resend``; ``machines`` (names, lower case) limits it, empty: all."""

    action: Literal["skip", "resend"]
    machines: frozenset[str] = frozenset()


def _reopen_later_steps(job: Job, plan: Plan, journal: Journal) -> None:
    """The machine's later steps that were skipped because this one did not succeed run now."""
    for other in plan.jobs if not job.rollback else plan.rollback_jobs:
        if other.machine.key != job.machine.key or other.step_index <= job.step_index:
            continue
        key = job_key(other.machine, other.step, other.rollback)
        row = journal.job(key)
        if row is not None and row.state == JobState.SKIPPED and (row.reason or "").startswith("step "):
            journal.transition(key, JobState.PENDING, "reopened: an earlier step was resolved",
                               reason=None, ended_at=None)


async def settle_unknown(
    plan: Plan, journal: Journal, runner: JobRunner, resolution: Resolution | None, emit: Observer
) -> None:
    by_key = {job_key(j.machine, j.step, j.rollback): j for j in (*plan.jobs, *plan.rollback_jobs)}
    unknown = [by_key[r.job_key] for r in journal.jobs()
               if r.state == JobState.UNKNOWN and r.job_key in by_key]
    if resolution is not None:
        names = {j.machine.name.lower() for j in unknown}
        stray = sorted(m for m in resolution.machines if m not in names)
        if stray:
            raise UsageError(f"--resolve-unknown: no unknown job on {', '.join(stray[:5])} "
                             f"({len(unknown)} unknown job(s) in this run)")
        if not unknown:
            raise UsageError("--resolve-unknown: this run has no unknown job")

    def chosen(job: Job) -> bool:
        return resolution is not None and (
            not resolution.machines or job.machine.name.lower() in resolution.machines)

    recheck: list[Job] = []
    for job in unknown:
        key = job_key(job.machine, job.step, job.rollback)
        if chosen(job) and resolution is not None and resolution.action == "skip":
            runner.skip(job, SKIPPED_UNKNOWN)
        elif chosen(job):
            journal.transition(key, JobState.PENDING,
                               "the operator chose to send it again (--resolve-unknown resend)",
                               reason=None, ended_at=None)
            _reopen_later_steps(job, plan, journal)
        else:
            recheck.append(job)
    states: list[JobState] = await asyncio.gather(*(runner.recheck(job) for job in recheck))
    still = 0
    for job, state in zip(recheck, states, strict=True):
        if state == JobState.RUNNING:
            _reopen_later_steps(job, plan, journal)
        elif state == JobState.UNKNOWN:
            still += 1
    if still:
        emit(RunEvent(f"{still} job(s) with unknown outcome (run command gone, nothing shows "
                      "whether it ran): resolve with `fleet resume RUN_DIR --resolve-unknown "
                      "skip|resend [MACHINE...]`", "warning"))
