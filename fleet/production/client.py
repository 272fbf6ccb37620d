"""The client side of production mode: submit a planned run, follow it, ask its status,
approve its gate, cancel it, fetch its reports. Everything here talks to Temporal and to the
run's storage account; nothing runs a machine."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.clock import parse_time_scale
from fleet.errors import RunFolderError, UsageError
from fleet.plan.model import Plan
from fleet.production.activities import REPORT_FILES
from fleet.production.artifacts import PLAN_BLOB, REPORT_PREFIX, ArtifactStore
from fleet.production.connect import TemporalTarget, connect
from fleet.production.model import RunInput, RunSummary
from fleet.production.plancodec import encode_plan
from fleet.production.shards import DEFAULT_MAX_SHARD, cut_rollback, cut_waves
from fleet.production.workflow import WORKFLOW_NAME

__all__ = ["Storage", "approve", "cancel", "fetch_reports", "progress", "submit", "wait_result"]


@dataclass(frozen=True, slots=True)
class Storage:
    connection_string: str | None
    account_url: str | None

    def store(self, run_id: str) -> ArtifactStore:
        return ArtifactStore.open(run_id=run_id, connection_string=self.connection_string,
                                  account_url=self.account_url)


def _time_scale() -> float:
    text = os.environ.get("FLEET_TIME_SCALE", "").strip()
    try:
        return parse_time_scale(text) if text else 1.0
    except ValueError as error:
        raise UsageError(f"FLEET_TIME_SCALE: {error}") from None


def run_input(plan: Plan, sha256: str, *, max_shard: int, heartbeat_timeout_s: float,
              history_limit: int = 2_000) -> RunInput:
    policy = plan.rollout
    return RunInput(
        run_id=plan.run_id, plan_blob=PLAN_BLOB, plan_sha256=sha256,
        total_machines=sum(len(w.machines) for w in plan.waves),
        waves=cut_waves(plan, max_shard), max_failures=policy.max_failures,
        max_unreachable=policy.max_unreachable, failures_per=policy.failures_per,
        on_breach=policy.on_breach, pause_s=float(policy.pause_s), approve=policy.approve,
        time_scale=_time_scale(), heartbeat_timeout_s=heartbeat_timeout_s,
        history_limit=history_limit, rollback_shards=cut_rollback(plan, max_shard),
    )


async def submit(plan: Plan, target: TemporalTarget, storage: Storage, *,
                 max_shard: int = DEFAULT_MAX_SHARD, heartbeat_timeout_s: float = 30.0,
                 history_limit: int = 2_000) -> bool:
    """Store the plan and start the run's workflow (id = run id). Returns False, touching
    nothing, if a workflow with this id exists (running or closed): one run id, one rollout."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError

    from fleet.plan.instance import with_instance
    from fleet.plan.names import new_instance

    # The run's names carry an instance tag drawn here, once: every worker and every retried
    # shard uses the stored plan's names, and a run id reused elsewhere names nothing of this run.
    plan = with_instance(plan, new_instance())
    data, sha256 = encode_plan(plan)
    inp = run_input(plan, sha256, max_shard=max_shard, heartbeat_timeout_s=heartbeat_timeout_s,
                    history_limit=history_limit)
    client = await connect(target)
    try:
        await client.get_workflow_handle(plan.run_id).describe()
        return False
    except RPCError:
        pass  # not found: a new run
    async with storage.store(plan.run_id) as store:
        await store.prepare()
        stored = await store.get(PLAN_BLOB)
        if stored is not None and stored != data:
            raise UsageError(f"run id {plan.run_id}: its storage already holds another plan; "
                             "choose a new --run-id")
        if stored is None:
            await store.put(PLAN_BLOB, data)
    try:
        await client.start_workflow(
            WORKFLOW_NAME, inp, id=plan.run_id, task_queue=target.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def progress(target: TemporalTarget, run_id: str) -> dict[str, Any]:
    """The run's progress (a query), plus Temporal's own view of the workflow."""
    from temporalio.service import RPCError

    client = await connect(target)
    handle = client.get_workflow_handle(run_id, result_type=RunSummary)
    try:
        described = await handle.describe()
    except RPCError as error:
        raise RunFolderError(f"run {run_id}: no such workflow on {target.address} ({error.message})") from None
    state = described.status.name.lower() if described.status is not None else "unknown"
    data: dict[str, Any] = {"run_id": run_id, "workflow": state}
    if state == "running":
        from fleet.production.watch import in_flight

        data.update(await handle.query("progress"))
        beats = await in_flight(handle)  # what the running shards' heartbeats say they run now
        data["in_flight"] = {"dispatched": sum(len(b.get("sent") or []) for b in beats),
                             "running": sum(len(b.get("running") or []) for b in beats)}
    elif state == "completed":
        result = await handle.result()
        data.update(status=result.status, exit_code=result.exit_code, machines=result.states)
    else:
        data.update(status=state)
    return data


async def wait_result(target: TemporalTarget, run_id: str,
                      on_progress: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
                      every_s: float = 1.0) -> RunSummary:
    """Follow the run until it ends; ``on_progress`` sees each query answer."""
    import asyncio

    client = await connect(target)
    handle = client.get_workflow_handle(run_id, result_type=RunSummary)
    result_task = asyncio.ensure_future(handle.result())
    try:
        while not result_task.done():
            if on_progress is not None:
                try:
                    await on_progress(await handle.query("progress"))
                except Exception:
                    pass
            await asyncio.wait({result_task}, timeout=every_s)
        summary: RunSummary = result_task.result()
        return summary
    finally:
        result_task.cancel()


async def approve(target: TemporalTarget, run_id: str) -> int:
    """Approve the gate the run waits at; returns the wave (0-based) it waited after."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError

    client = await connect(target)
    try:
        wave: int = await client.get_workflow_handle(run_id).execute_update("approve", result_type=int)
    except WorkflowUpdateFailedError as error:
        cause = getattr(error, "cause", None)
        raise UsageError(f"run {run_id}: {getattr(cause, 'message', None) or error}") from None
    except RPCError as error:
        raise RunFolderError(f"run {run_id}: {error.message}") from None
    return wave


async def cancel(target: TemporalTarget, run_id: str) -> None:
    from temporalio.service import RPCError

    client = await connect(target)
    try:
        await client.get_workflow_handle(run_id).cancel()
    except RPCError as error:
        raise RunFolderError(f"run {run_id}: {error.message}") from None


async def fetch_reports(run_id: str, storage: Storage, run_dir: Path, *,
                        outputs: bool = True, max_output_bytes: int = 16 * 1024 * 1024) -> list[Path]:
    """The run's report files from its storage account into ``run_dir`` (and, with
    ``outputs``, every output the report names, at the path it names)."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    async with storage.store(run_id) as store:
        for name in REPORT_FILES:
            data = await store.get(REPORT_PREFIX + name)
            if data is not None:
                (run_dir / name).write_bytes(data)
                written.append(run_dir / name)
        if not written:
            raise RunFolderError(f"run {run_id}: no reports in its storage yet (is it finished?)")
        if outputs:
            await _fetch_outputs(run_id, storage, run_dir, max_output_bytes)
    return written


async def _fetch_outputs(run_id: str, storage: Storage, run_dir: Path, cap: int) -> None:
    from fleet.blobs import RunStorage
    from fleet.production.plancodec import decode_plan

    report = json.loads((run_dir / "report.json").read_text())
    async with storage.store(run_id) as store:
        data = await store.get(PLAN_BLOB)
    if data is None:
        return
    import hashlib

    plan = decode_plan(data, hashlib.sha256(data).hexdigest())
    blobs = {(j.machine.name, j.step, j.rollback): (j.output_blob, j.error_blob)
             for j in (*plan.jobs, *plan.rollback_jobs)}
    if storage.connection_string:
        runs = RunStorage.from_connection_string(storage.connection_string, run_id=run_id)
    else:
        from azure.identity.aio import DefaultAzureCredential

        runs = RunStorage.from_account_url(str(storage.account_url), DefaultAzureCredential(), run_id=run_id)
    async with runs:
        for row in report.get("rows", []):
            names = blobs.get((row.get("name"), row.get("step"), bool(row.get("rollback"))))
            if names is None:
                continue
            for stream, blob in (("output", names[0]), ("error", names[1])):
                path = (row.get(stream) or {}).get("path")
                if not path or (row.get(stream) or {}).get("source") != "blob":
                    continue
                target = (run_dir / path).resolve()
                if run_dir.resolve() not in target.parents:
                    continue  # never write outside the run folder
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    await runs.download(blob, target, max_bytes=cap, relative_to=run_dir)
                except Exception:
                    continue
