"""One machine's steps, in order: a step runs if the earlier ones succeeded, or when its
``when:`` expression (over earlier steps' results) holds. Steps finished before a restart are
taken from the journal, never run again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleet.engine.classify import evaluate_when
from fleet.engine.jobs import JobRunner
from fleet.journal import Journal, job_key
from fleet.plan.model import Job
from fleet.types import JobState

__all__ = ["machine_state", "run_machine"]


async def run_machine(jobs: Sequence[Job], *, journal: Journal, runner: JobRunner) -> JobState:
    results: dict[str, dict[str, Any]] = {}
    states: list[JobState] = []
    blocked_by: str | None = None
    for job in jobs:
        row = journal.job(job_key(job.machine, job.step))
        if row is not None and row.state.terminal:  # done before a restart
            state = row.state
        elif job.when:
            try:
                go = evaluate_when(job.when, {"steps": results, "previous": _last(results)})
            except ValueError as error:
                state = runner.mark(job, JobState.ERROR, str(error))
            else:
                state = await runner.run(job) if go else runner.skip(job, f"when: {job.when} is false")
        elif blocked_by is not None:
            state = runner.skip(job, f"step {blocked_by!r} did not succeed")
        else:
            state = await runner.run(job)
        results[job.step] = _result(state)
        states.append(state)
        if state not in (JobState.SUCCEEDED, JobState.SKIPPED) and blocked_by is None:
            blocked_by = job.step
    return machine_state(states)


def machine_state(states: Sequence[JobState]) -> JobState:
    """A machine's outcome from its steps' states: its first step that did not succeed."""
    if any(s == JobState.UNREACHABLE for s in states):
        return JobState.UNREACHABLE
    for state in states:
        if state not in (JobState.SUCCEEDED, JobState.SKIPPED):
            return state
    if states and all(s == JobState.SKIPPED for s in states):
        return JobState.SKIPPED
    return JobState.SUCCEEDED


def _result(state: JobState) -> dict[str, Any]:
    return {
        "state": state.value,
        "succeeded": state == JobState.SUCCEEDED,
        "failed": state.is_failure or state == JobState.CANCELED,
        "skipped": state == JobState.SKIPPED,
    }


def _last(results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    return next(reversed(results.values()), None) if results else None
