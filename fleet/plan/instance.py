"""A plan bound to one run folder: its run command and blob names carry the folder's instance
tag, so a run id given twice (two run folders) never names the same resources (issue #13, A1).

``fleet plan`` shows names without an instance; ``fleet run`` draws one when it creates the run
folder's journal, records it there, and ``fleet resume`` binds the rebuilt plan to the same one.
"""

from __future__ import annotations

import dataclasses

from fleet.plan.model import Job, Plan
from fleet.plan.names import blob_names, run_command_name

__all__ = ["with_instance"]


def _bound(job: Job, run_id: str, instance: str) -> Job:
    output_blob, error_blob = blob_names(run_id, job.machine, job.step, instance=instance)
    return dataclasses.replace(
        job,
        run_command_name=run_command_name(run_id, job.step, instance=instance),
        output_blob=output_blob,
        error_blob=error_blob,
    )


def with_instance(plan: Plan, instance: str) -> Plan:
    """``plan`` with every job's names derived from (run id, ``instance``); ``""`` leaves the
    names as planned (runs journaled before instances existed)."""
    if not instance:
        return plan
    return dataclasses.replace(
        plan,
        jobs=tuple(_bound(j, plan.run_id, instance) for j in plan.jobs),
        rollback_jobs=tuple(_bound(j, plan.run_id, instance) for j in plan.rollback_jobs),
    )
