"""The activities a ``fleet worker`` hosts: ``run_shard`` (the engine over one shard),
``cancel_shard`` (a canceled run's cleanup of a shard that had no live attempt) and
``finalize_run`` (rows of every shard -> journal -> the same reports as the embedded mode,
stored beside the outputs). All I/O of production mode happens here."""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from fleet.errors import FleetError, UsageError
from fleet.plan.model import Plan
from fleet.production.artifacts import REPORT_PREFIX, ArtifactStore
from fleet.production.assemble import assemble_run
from fleet.production.model import (
    FinalizeInput,
    RunSummary,
    ShardInput,
    ShardSummary,
    SweepFiring,
    SweepSummary,
)
from fleet.production.plancodec import decode_plan
from fleet.production.shard import ShardContext, ShardRun

__all__ = ["REPORT_FILES", "FleetActivities"]

REPORT_FILES = ("report.json", "junit.xml", "summary.md", "report.html", "retry.txt")


async def _beat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(1.0)


class _Hooks:
    def __init__(self, run_id: str, shard_id: str, *, run_canceled: bool = False) -> None:
        info = activity.info()
        self.attempt = info.attempt
        self.started_s = info.started_time.timestamp()
        self._run_id = run_id
        self._shard_id = shard_id
        self._canceled = run_canceled

    def heartbeat(self, details: dict[str, Any]) -> None:
        activity.heartbeat(details)

    def run_canceled(self) -> bool:
        """Only the workflow's cancel request cancels the run; a heartbeat timeout or this
        worker's shutdown leaves the commands running for the next attempt to adopt."""
        if self._canceled:
            return True
        details = activity.cancellation_details()
        return bool(details is not None and details.cancel_requested and not details.timed_out
                    and not activity.is_worker_shutdown())

    async def halt_reason(self) -> str | None:
        handle = activity.client().get_workflow_handle(self._run_id)
        reason = await handle.query("halt_reason")
        return reason if isinstance(reason, str) else None

    async def report_counts(self, failed: int, unreachable: int) -> None:
        handle = activity.client().get_workflow_handle(self._run_id)
        await handle.signal("shard_counts", args=[self._shard_id, failed, unreachable])


@dataclass
class FleetActivities:
    """Activities bound to one worker's connection options (ARM, storage, state folder)."""

    ctx: ShardContext

    def __post_init__(self) -> None:
        self._plans: dict[str, Plan] = {}
        self._lock = asyncio.Lock()

    def _store(self, run_id: str) -> ArtifactStore:
        c = self.ctx.connection
        return ArtifactStore.open(run_id=run_id, connection_string=c.storage_connection_string,
                                  account_url=c.storage_account_url)

    async def _plan(self, store: ArtifactStore, blob: str, sha256: str) -> Plan:
        async with self._lock:
            plan = self._plans.get(sha256)
            if plan is None:
                data = await store.get(blob)
                if data is None:
                    raise ApplicationError(f"the run's plan ({blob}) is missing", type="PlanMismatch",
                                           non_retryable=True)
                try:
                    plan = decode_plan(data, sha256)
                except UsageError as error:
                    raise ApplicationError(error.one_line(), type="PlanMismatch", non_retryable=True) from None
                self._plans = {sha256: plan}  # one plan per worker at a time is plenty
            return plan

    @activity.defn(name="run_shard")
    async def run_shard(self, inp: ShardInput) -> ShardSummary:
        async with self._store(inp.run_id) as store:
            plan = await self._plan(store, inp.plan_blob, inp.plan_sha256)
            shard = ShardRun(inp, plan, self.ctx, _Hooks(inp.run_id, inp.shard.shard_id), store)
            try:
                return await shard.run()
            except FleetError as error:
                # One line, never a traceback with request bodies; retried (ARM/storage trouble).
                raise ApplicationError(error.one_line(), type=type(error).__name__) from None

    @activity.defn(name="cancel_shard")
    async def cancel_shard(self, inp: ShardInput) -> ShardSummary:
        """The run was canceled while this shard had no live attempt (its worker died after
        sending, its retry had not started). Like a retry that is told to cancel at once: every
        job an earlier attempt sent or may have sent (its run command exists, or ARM cannot
        say) is stopped (DELETE) and reported ``canceled``; a job ARM has never seen stays
        unsent. A shard that left its result returns it untouched. Run shielded from a second
        cancellation by the workflow."""
        async with self._store(inp.run_id) as store:
            plan = await self._plan(store, inp.plan_blob, inp.plan_sha256)
            hooks = _Hooks(inp.run_id, inp.shard.shard_id, run_canceled=True)
            shard = ShardRun(inp, plan, self.ctx, hooks, store, cleanup=True)
            try:
                return await shard.run()
            except FleetError as error:
                raise ApplicationError(error.one_line(), type=type(error).__name__) from None

    @activity.defn(name="run_sweep_firing")
    async def run_sweep_firing(self, firing: SweepFiring) -> SweepSummary:
        from fleet.production.scheduled import run_firing, store_id

        c = self.ctx.connection
        store = ArtifactStore.open(run_id=store_id(firing.sweep.name),
                                   connection_string=c.storage_connection_string,
                                   account_url=c.storage_account_url)
        beat = asyncio.ensure_future(_beat())
        try:
            async with store:
                return await run_firing(firing, ctx=self.ctx, store=store)
        except FleetError as error:
            raise ApplicationError(error.one_line(), type=type(error).__name__,
                                   non_retryable=True) from None
        finally:
            beat.cancel()

    @activity.defn(name="finalize_run")
    async def finalize_run(self, inp: FinalizeInput) -> RunSummary:
        async with self._store(inp.run_id) as store:
            plan = await self._plan(store, inp.plan_blob, inp.plan_sha256)
            docs = []
            for name in await store.names("fleet/shards/"):
                if name.count("/") == 2 and name.endswith(".json"):  # results, not per-row blobs
                    data = await store.get(name)
                    if data is not None:
                        docs.append(json.loads(data))
            with tempfile.TemporaryDirectory(prefix="fleet-final-") as tmp:
                run_dir = Path(tmp)
                record = await asyncio.to_thread(
                    assemble_run, plan, docs, run_dir, wave_states=inp.wave_states,
                    skip_reasons=inp.skip_reasons, breached=inp.breached,
                    breach_reason=inp.breach_reason, stopped=inp.stopped,
                    arm_requests=inp.arm_requests, meta={}, started=inp.started,
                )
                for name in REPORT_FILES:
                    path = run_dir / name
                    if path.is_file():
                        await store.put(REPORT_PREFIX + name, path.read_bytes())
        states: dict[str, int] = {}
        for result in record.results:
            if not result.rollback:
                states[result.state.value] = states.get(result.state.value, 0) + 1
        return RunSummary(run_id=inp.run_id, status=record.status, exit_code=record.exit_code,
                          states=states, report_blob=REPORT_PREFIX + "report.json")
