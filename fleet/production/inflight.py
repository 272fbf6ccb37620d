"""What a shard has in flight, for its heartbeat: the jobs sent (``dispatched``) and running
now, as their positions in the run's plan (``jobs_in_order``), so a follower shows them
without a name crossing Temporal. At most the shard's window of jobs: a few KB."""

from __future__ import annotations

from typing import Any

from fleet.engine.events import Event, JobEvent
from fleet.journal import job_key
from fleet.plan.model import Job, Plan
from fleet.types import JobState

__all__ = ["InFlight", "jobs_in_order"]

_SHOWN = {JobState.DISPATCHED: "sent", JobState.RUNNING: "running"}


def jobs_in_order(plan: Plan) -> tuple[Job, ...]:
    """The plan's jobs as positions count them (the same on every worker and the client)."""
    return (*plan.jobs, *plan.rollback_jobs)


class InFlight:
    """An observer of one shard's engine; ``detail()`` goes into each heartbeat."""

    def __init__(self, plan: Plan, shard: Plan, wave: int) -> None:
        position = {job_key(j.machine, j.step, j.rollback): i for i, j in enumerate(jobs_in_order(plan))}
        self._position = {(j.machine.name, j.step, j.rollback): where for j in jobs_in_order(shard)
                          if (where := position.get(job_key(j.machine, j.step, j.rollback))) is not None}
        self._wave = wave
        self._now: dict[int, str] = {}

    def __call__(self, event: Event) -> None:
        if not isinstance(event, JobEvent):
            return
        where = self._position.get((event.machine, event.step, event.rollback))
        if where is None:
            return
        shown = _SHOWN.get(event.state)
        if shown is None:
            self._now.pop(where, None)
        else:
            self._now[where] = shown

    def detail(self) -> dict[str, Any]:
        return {"wave": self._wave,
                "sent": sorted(p for p, s in self._now.items() if s == "sent"),
                "running": sorted(p for p, s in self._now.items() if s == "running")}
