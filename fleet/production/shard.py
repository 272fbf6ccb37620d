"""One shard: the engine over one subscription's chunk of one wave, exactly as the embedded
mode runs a wave, with what the rest of the wave and run counted as its budget base.

Exactly once across workers: the shard's journal lives on its worker and dies with it, so a
job's finished row is written to the run's storage (``fleet/shards/<id>/rows/``) *before* its
run command is deleted; until then the run command itself proves the job ran. A retried
attempt (its worker died) restores those rows as finished and marks every other job "may have
been sent": the engine GETs each before anything is sent again, adopts what exists and sends
only what ARM has never seen (the run command's deterministic name is the idempotency key).
Heartbeats carry the count of finished machines."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fleet.engine.jobs import request_sha256
from fleet.engine.options import Clock, EngineOptions, MonotonicClock
from fleet.engine.rollout import BudgetBase, Rollout
from fleet.engine.session import Connection, execute_plan
from fleet.engine.steps import machine_state
from fleet.journal import JobRow, Journal, job_key, utc_now
from fleet.plan.model import Plan
from fleet.production.artifacts import ArtifactStore, shard_blob
from fleet.production.budget import carried_limits
from fleet.production.inflight import InFlight
from fleet.production.model import ShardInput, ShardSummary
from fleet.production.rows import restore_rows, row_to_json
from fleet.production.shards import shard_plan
from fleet.types import JobState

if TYPE_CHECKING:
    from fleet.arm.transport import Transport

__all__ = ["CONTROL_EVERY_S", "ShardHooks", "ShardRun"]

CONTROL_EVERY_S = 1.0  # how often a shard reports progress and asks the workflow for a halt


class ShardHooks(Protocol):
    """The shard's link to Temporal (the activity context); fakes in unit tests."""

    attempt: int
    started_s: float  # when this attempt started, epoch seconds by the Temporal server's clock

    def heartbeat(self, details: dict[str, Any]) -> None: ...

    def run_canceled(self) -> bool:
        """True when a cancellation is the run's (``fleet cancel``), not this attempt's end
        (its worker stopping, or its heartbeat timed out: another attempt takes over)."""
        ...

    async def halt_reason(self) -> str | None:
        """Why the workflow wants this wave halted (another shard breached), or None."""
        ...

    async def report_counts(self, failed: int, unreachable: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ShardContext:
    connection: Connection
    state_dir: Path
    options: EngineOptions
    clock: Clock | None = None
    transport: Transport | None = None  # a test seam; None: the real aiohttp transport


class ShardRun:
    def __init__(self, inp: ShardInput, plan: Plan, ctx: ShardContext, hooks: ShardHooks,
                 store: ArtifactStore, *, cleanup: bool = False) -> None:
        """``cleanup``: the run was canceled while this shard had no live attempt (its worker
        died, its retry had not started): an attempt that only stops what earlier ones sent."""
        self._inp = inp
        self._cleanup = cleanup
        self._plan = shard_plan(plan, inp.wave, inp.shard)
        self._ctx = ctx
        self._hooks = hooks
        self._store = store
        self._rollout: Rollout | None = None
        self._canceled = False
        self._interrupted = False
        self._dir = (ctx.state_dir / inp.run_id / inp.shard.shard_id
                     / (f"cleanup-{hooks.attempt}" if cleanup else f"attempt-{hooks.attempt}"))
        self._rows_prefix = f"fleet/shards/{inp.shard.shard_id}/rows/"
        self._durable = 0
        self._in_flight = InFlight(plan, self._plan, inp.wave)  # heartbeats show what runs
        self._rollback = inp.rollback_reason is not None  # a rollback shard (wave -1)

    def cancel(self) -> None:
        """The workflow was canceled: stop in-flight commands (DELETE), skip the rest."""
        self._canceled = True
        if self._rollout is not None:
            self._rollout.stop("canceled")

    async def run(self) -> ShardSummary:
        done = await self._store.get(shard_blob(self._inp.shard.shard_id))
        if done is not None:  # this shard finished before (a duplicate task): never rerun it
            return ShardSummary(**json.loads(done)["summary"])
        if self._cleanup:
            self.cancel()
        work = asyncio.ensure_future(self._work())
        try:
            record = await asyncio.shield(work)
        except asyncio.CancelledError:
            if not self._hooks.run_canceled():
                # Not the run's cancellation: this attempt ends (worker stopping, heartbeat
                # lost). Launch nothing new, leave what runs running; the next attempt adopts
                # it (GET first).
                self._interrupted = True
                if self._rollout is not None:
                    self._rollout.stop("interrupted")
                else:  # nothing sent yet by this attempt: restoring or connecting
                    work.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await work
                raise
            # The run's cancellation (also while restoring: an earlier attempt's commands
            # may be running): stop every job that may have been sent, then write the result.
            # A second cancellation must not cut this short (a command left running, a job
            # reported as never sent).
            self.cancel()
            await _unstoppable(self._close_canceled(work))
            raise
        summary = await self._write_result(record)
        shutil.rmtree(self._dir, ignore_errors=True)
        return summary

    async def _work(self) -> Any:
        beat = asyncio.ensure_future(self._heartbeat_loop())
        try:
            await self._seed()
        finally:
            beat.cancel()
        control = asyncio.ensure_future(self._control_loop())
        try:
            return await self._execute()
        finally:
            control.cancel()

    async def _close_canceled(self, work: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await work
        await self._write_result(None)

    # -- the journal this attempt starts from ----------------------------------------------
    async def _seed(self) -> None:
        if self._dir.exists():
            shutil.rmtree(self._dir)
        self._dir.mkdir(parents=True, mode=0o700)
        plan = self._plan
        journal = Journal.create(self._dir / "journal.sqlite", {
            "run_id": plan.run_id, "playbook_name": plan.playbook.name,
            "playbook_path": plan.playbook.path, "playbook_sha256": plan.playbook.sha256,
            "started_at": utc_now(), **self._ctx.connection.journal_meta(),
        })
        try:
            journal.add_jobs([(j.machine, j.step, j.step_index, j.wave, j.rollback,
                               j.run_command_name, request_sha256(j))
                              for j in (*plan.jobs, *plan.rollback_jobs)])
            gate = asyncio.Semaphore(16)

            async def read(name: str) -> Any:
                async with gate:
                    data = await self._store.get(name)
                    return json.loads(data) if data is not None else None

            if self._rollback:
                # The waves' outcomes choose the rollback's targets: every wave shard's result
                # (their run commands were deleted by their own shards: not this one's to clean).
                results = [n for n in await self._store.names("fleet/shards/")
                           if n.count("/") == 2 and not n.startswith("fleet/shards/rb-")]
                docs = await asyncio.gather(*(read(n) for n in results))
                waves = [row for doc in docs if doc is not None for row in doc.get("rows", ())]
                for key in restore_rows(journal, waves, detail="from its wave shard's result"):
                    journal.mark_cleaned(key)
            found = await asyncio.gather(*(read(n) for n in await self._store.names(self._rows_prefix)))
            rows = [row for row in found if row is not None]
            finished = restore_rows(journal, rows, detail="finished by an earlier attempt of this shard")
            if self._hooks.attempt > 1 or self._cleanup:
                mine = plan.rollback_jobs if self._rollback else plan.jobs
                unsure = [j for j in mine if job_key(j.machine, j.step, j.rollback) not in finished]
                for job, verdict in await self._sent_before(unsure):
                    key = job_key(job.machine, job.step, job.rollback)
                    if verdict == "sent":
                        journal.transition(key, JobState.DISPATCHED,
                                           "an earlier attempt sent it: adopt it")
                    elif verdict == "started":  # never again, whatever ARM says now
                        journal.bump(key, "attempts")
                        journal.transition(key, JobState.RUNNING,
                                           "an earlier attempt's execution started (output blob)")
        finally:
            journal.close()

    async def _sent_before(self, jobs: list[Any]) -> list[tuple[Any, str]]:
        """What an earlier attempt did with each of ``jobs``: ``sent`` (its run command
        exists, or ARM did not answer: the engine adopts or reconciles it), ``started`` (404,
        but the execution's output blob exists, or cannot be checked: it ran and its command
        was removed outside fleet; never sent again) or ``never`` (404 and no output blob: it
        stays pending, preflight then dispatch, its first execution)."""
        from fleet.arm.client import ArmClient
        from fleet.arm.credentials import build_credential
        from fleet.arm.transport import make_transport
        from fleet.errors import FleetError

        c = self._ctx.connection
        credential = build_credential(c.credential, endpoint=c.arm_endpoint, ca_file=c.ca_file)
        kwargs: dict[str, Any] = {}
        if c.arm_limits is not None:
            kwargs["limits"] = c.arm_limits
        if c.retry is not None:
            kwargs["retry"] = c.retry
        arm = ArmClient(endpoint=c.arm_endpoint,
                        transport=self._ctx.transport or make_transport(ca_file=c.ca_file, endpoint=c.arm_endpoint),
                        credential=credential, api_version=c.api_version,
                        clock=self._ctx.clock or MonotonicClock(), **kwargs)
        gate = asyncio.Semaphore(16)
        storage = self._run_storage()

        async def verdict(job: Any) -> str:
            async with gate:
                try:
                    if await arm.get_run_command(job.machine, job.run_command_name) is not None:
                        return "sent"
                except FleetError:
                    return "sent"
                try:
                    return "started" if await storage.exists(job.output_blob) else "never"
                except FleetError:
                    return "started"

        try:
            answers = await asyncio.gather(*(verdict(j) for j in jobs))
        finally:
            await arm.aclose()
            await credential.aclose()
            await storage.aclose()
        return list(zip(jobs, answers, strict=True))

    def _run_storage(self) -> Any:
        from fleet.blobs import RunStorage

        c = self._ctx.connection
        if c.storage_connection_string:
            return RunStorage.from_connection_string(c.storage_connection_string, run_id=self._plan.run_id)
        from azure.identity.aio import DefaultAzureCredential

        return RunStorage.from_account_url(str(c.storage_account_url), DefaultAzureCredential(),
                                           run_id=self._plan.run_id)

    async def _execute(self) -> Any:
        inp = self._inp

        def keep(rollout: Rollout) -> None:
            self._rollout = rollout
            if self._canceled:
                rollout.stop("canceled")
            elif self._interrupted:
                rollout.stop("interrupted")

        # The subscription's buckets start where its previous shard left them (budget.py).
        limits = carried_limits(self._ctx.connection.arm_limits, inp.shard.subscription_id,
                                inp.bucket_tokens, self._hooks.started_s, inp.time_scale)
        connection = dataclasses.replace(self._ctx.connection, arm_limits=limits)
        return await execute_plan(
            self._plan, connection=connection, run_dir=self._dir, options=self._ctx.options,
            clock=self._ctx.clock, transport=self._ctx.transport, resume=True, on_rollout=keep,
            before_delete=self._make_durable, rollback_only=inp.rollback_reason,
            observers=[self._in_flight],
            budget_base=BudgetBase(
                wave_size=inp.wave_size, run_size=inp.run_size, failed_in_wave=inp.failed_in_wave,
                failed_in_run=inp.failed_in_run, unreachable_in_wave=inp.unreachable_in_wave,
                unreachable_in_run=inp.unreachable_in_run),
        )

    # -- progress out, halts in ------------------------------------------------------------
    def _counts(self) -> tuple[int, int]:
        rollout = self._rollout
        if rollout is None:
            return 0, 0
        states = list(rollout.outcome.machine_states.values())
        return (sum(1 for s in states if rollout.counts_as_failure(s)),
                sum(1 for s in states if s == JobState.UNREACHABLE))

    async def _heartbeat_loop(self) -> None:
        while True:
            self._hooks.heartbeat({"finished": self._durable, "phase": "restoring"})
            await asyncio.sleep(CONTROL_EVERY_S)

    async def _make_durable(self, row: JobRow) -> None:
        name = self._rows_prefix + hashlib.sha256(row.job_key.encode()).hexdigest()[:32] + ".json"
        await self._store.put(name, json.dumps(row_to_json(row)).encode())
        self._durable += 1

    async def _control_loop(self) -> None:
        sent_counts = (0, 0)
        policy = self._plan.rollout
        budgets = (not self._rollback and policy.on_breach != "continue"
                   and (policy.max_failures is not None or policy.max_unreachable is not None))
        while True:
            await asyncio.sleep(CONTROL_EVERY_S)
            self._hooks.heartbeat({"finished": self._durable, **self._in_flight.detail()})
            if not budgets or self._rollout is None:
                continue
            counts = self._counts()
            if counts != sent_counts:
                sent_counts = counts
                with contextlib.suppress(Exception):  # progress only: the result counts anyway
                    await self._hooks.report_counts(*counts)
            if not self._rollout.outcome.breached:
                with contextlib.suppress(Exception):
                    reason = await self._hooks.halt_reason()
                    if reason:
                        self._rollout.breach(reason)

    # -- the result ------------------------------------------------------------------------
    def _tokens_left(self) -> dict[str, float] | None:
        if self._rollout is None:
            return None
        tokens = self._rollout.arm_stats().tokens.get(self._inp.shard.subscription_id.lower())
        return {kind: round(float(v), 3) for kind, v in tokens.items()} if tokens else None

    async def _write_result(self, record: Any) -> ShardSummary:
        journal = Journal.open(self._dir / "journal.sqlite")
        try:
            rows = list(journal.jobs())
        finally:
            journal.close()
        # A rollback shard's journal also holds the waves' rows it chose targets by: its
        # result is its rollback rows only (they never count against the run's budgets).
        rows = [row for row in rows if row.rollback == self._rollback]
        per_machine: dict[str, list[JobState]] = {}
        for row in rows:
            per_machine.setdefault(row.machine.key, []).append(row.state)
        states = {k: machine_state(v) for k, v in per_machine.items()}
        failed, unreachable = self._counts() if not self._rollback else (0, 0)
        outcome = self._rollout.outcome if self._rollout is not None and not self._rollback else None
        requests = (record.arm_requests.get("total", 0) if record is not None else 0)
        summary = ShardSummary(
            shard_id=self._inp.shard.shard_id,
            machines=len(states),
            states=dict(Counter(s.value for s in states.values())),
            failed=failed,
            unreachable=unreachable,
            breached=bool(outcome and outcome.breached),
            breach_reason=outcome.breach_reason if outcome else None,
            needed_work=any(row.attempts for row in rows) if self._rollback else bool(rows),
            arm_requests=int(requests),
            canceled=self._canceled,
            tokens_left=self._tokens_left(),
        )
        body = {"summary": dataclasses.asdict(summary), "rows": [row_to_json(r) for r in rows]}
        await self._store.put(shard_blob(self._inp.shard.shard_id), json.dumps(body).encode())
        return summary


async def _unstoppable(aw: Any) -> None:
    """Run ``aw`` to its end even if the caller is canceled again meanwhile."""
    task = asyncio.ensure_future(aw)
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    task.result()
