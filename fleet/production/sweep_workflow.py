"""A scheduled sweep's firing: one workflow per firing of a Temporal Schedule (overlap "skip"),
one activity that runs the sweep and keeps it in the schedule's history. Deterministic: the
run id comes from the workflow's own clock."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from fleet.production.model import SweepFiring, SweepInput, SweepSummary

__all__ = ["SWEEP_WORKFLOW_NAME", "SweepWorkflow"]

SWEEP_WORKFLOW_NAME = "FleetSweep"


@workflow.defn(name=SWEEP_WORKFLOW_NAME)
class SweepWorkflow:
    @workflow.run
    async def run(self, inp: SweepInput) -> SweepSummary:
        stamp = workflow.now().strftime("%Y%m%d-%H%M%S")
        run_id = f"{inp.slug}-{stamp}"
        summary: SweepSummary = await workflow.execute_activity(
            "run_sweep_firing", SweepFiring(inp, run_id), result_type=SweepSummary,
            start_to_close_timeout=timedelta(hours=12),
            heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_s),
            # Checks are read-only, yet a machine is never asked twice: a firing whose worker
            # dies is reported failed, and the next firing runs the sweep again.
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return summary
