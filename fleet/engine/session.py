"""Wire one run together: run folder, lock, journal, ARM client, storage, poller, rollout,
signals, reports.

This is the only place that builds the engine's collaborators; everything below it takes
them as arguments (so tests can drive the same code in-process against the simulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.engine.connection import Connection
from fleet.engine.control import (
    handle_interrupts,
    open_private,
    principal_of,
    watch_cancel,
    write_retry_file,
)
from fleet.engine.events import ArmNotice, Event, Observer, RunEvent
from fleet.engine.inputs import check_unchanged, policy_json
from fleet.engine.jobs import JobRunner, request_sha256
from fleet.engine.options import Clock, EngineOptions, MonotonicClock
from fleet.engine.poller import PollScheduler
from fleet.engine.record import build_record, previous_counts, save_run_meta
from fleet.engine.resolve import Resolution, settle_unknown
from fleet.engine.rollout import Approver, BudgetBase, Rollout, RolloutOutcome
from fleet.engine.runwide import check_run_wide
from fleet.errors import EXIT_INTERRUPTED, FleetError, RunFolderError, UsageError
from fleet.failpoints import Failpoints
from fleet.journal import JobRow, Journal, utc_now
from fleet.plan.instance import with_instance
from fleet.plan.model import Job, Plan
from fleet.plan.names import new_instance
from fleet.report.recap import plural
from fleet.runlock import RunLock
from fleet.secrets import resolve_secret as default_resolve_secret
from fleet.types import MachineRef, RunRecord, SecretRef

if TYPE_CHECKING:
    from fleet.arm.events import ArmEvent
    from fleet.arm.protocol import ArmApi
    from fleet.arm.transport import Transport
    from fleet.blobs.store import RunStorage
    from fleet.engine.collect import BlobReader

__all__ = [
    "RUN_INPUT_FILES", "Connection", "Resolution", "check_new_run_dir", "execute_plan", "open_storage",
    "output_dirs", "prepare_run_dir",
    "storage_where",
]



def output_dirs(machines: Sequence[MachineRef]) -> dict[str, str]:
    """Folder name under ``output/`` per machine: its name, disambiguated when two machines in
    different resource groups share one."""
    counts = Counter(m.name.lower() for m in machines)
    return {
        m.key: m.name if counts[m.name.lower()] == 1
        else f"{m.name}~{m.resource_group}~{m.subscription_id[:8]}"
        for m in machines
    }


# What fleet itself writes into a run folder before its journal: the playbook of an ad-hoc
# ``fleet run --script`` (resume reads it).
RUN_INPUT_FILES = frozenset({"adhoc-playbook.yaml"})


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run folder, readable by its owner only (``check_new_run_dir`` first)."""
    check_new_run_dir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(run_dir, 0o700)
        (run_dir / "output").mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"{run_dir}: cannot create the run folder: {error.strerror}") from error


def check_new_run_dir(run_dir: Path) -> None:
    """An existing path is taken only if it is a directory of its own (not a link) holding
    nothing but fleet's own inputs: fleet never takes over, chmods or writes into a directory
    that holds anything else (``--run-dir /tmp``, a home folder...)."""
    if (run_dir / "journal.sqlite").exists():
        raise RunFolderError(f"{run_dir}: already holds a run (use a new --run-id or `fleet resume`)")
    if run_dir.is_symlink():
        raise RunFolderError(f"{run_dir}: is a symbolic link; give the run folder's real path")
    if run_dir.exists():
        if not run_dir.is_dir():
            raise RunFolderError(f"{run_dir}: exists and is not a directory")
        try:
            occupied = any(entry.name not in RUN_INPUT_FILES for entry in os.scandir(run_dir))
        except OSError as error:
            raise RunFolderError(f"{run_dir}: cannot read it: {error.strerror}") from error
        if occupied:
            raise RunFolderError(f"{run_dir}: is not empty and not a fleet run folder: give a new "
                                 "or empty directory as --run-dir")


def _all_jobs(plan: Plan) -> list[Job]:
    return [*plan.jobs, *plan.rollback_jobs]


def _open_journal(
    plan: Plan, run_dir: Path, connection: Connection, inputs: Mapping[str, str], resume: bool
) -> tuple[Journal, Plan]:
    """The run's journal and the plan bound to the run folder's instance (a new one for a new
    run, the recorded one on resume: see ``fleet.plan.instance``)."""
    if resume:
        journal = Journal.open(run_dir / "journal.sqlite")
        plan = with_instance(plan, journal.meta().get("run_instance", ""))
        try:
            check_unchanged(plan, journal, run_dir, request_sha256)
        except BaseException:
            journal.close()
            raise
        return journal, plan
    from fleet.plan.render import write_plan

    instance = new_instance()
    plan = with_instance(plan, instance)
    with open_private(run_dir / "plan.json") as handle:  # streamed: never 17 MB of text at once
        write_plan(plan, handle.write)
    journal = Journal.create(
        run_dir / "journal.sqlite",
        {
            "run_id": plan.run_id,
            "run_instance": instance,
            "rollout_policy": policy_json(plan),
            "playbook_name": plan.playbook.name,
            "playbook_path": plan.playbook.path,
            "playbook_sha256": plan.playbook.sha256,
            "started_at": utc_now(),
            **connection.journal_meta(),
            **{f"input_{k}": v for k, v in inputs.items()},
        },
    )
    journal.add_jobs(
        [
            (j.machine, j.step, j.step_index, j.wave, j.rollback, j.run_command_name, request_sha256(j))
            for j in _all_jobs(plan)
        ]
    )
    return journal, plan


async def execute_plan(
    plan: Plan,
    *,
    connection: Connection,
    run_dir: Path,
    options: EngineOptions | None = None,
    observers: Sequence[Observer] = (),
    clock: Clock | None = None,
    transport: Transport | None = None,
    resolve_secret: Callable[[SecretRef], str] | None = None,
    resume: bool = False,
    approve: bool = False,
    approver: Approver | None = None,
    inputs: Mapping[str, str] | None = None,
    handle_signals: bool = False,
    budget_base: BudgetBase | None = None,
    on_rollout: Callable[[Rollout], None] | None = None,
    before_delete: Callable[[JobRow], Awaitable[None]] | None = None,
    resolve_unknown: Resolution | None = None,
    rollback_only: str | None = None,
) -> RunRecord:
    """Execute ``plan`` (or, with ``resume``, continue it from its journal) and write the run
    folder. Returns the run's record.

    Production mode runs each shard through here: ``plan`` is then the shard's part of one
    wave, ``budget_base`` what the rest of the wave and run counted, and ``on_rollout``
    receives the rollout so the shard can stop it or trip its budget from outside;
    ``before_delete`` makes each finished row durable elsewhere before its run command is
    deleted (the shard's journal dies with its worker). ``rollback_only`` (a rollback shard: the
    run breached for this reason) runs only the plan's rollback, from the journal's outcomes."""
    from fleet.arm.credentials import check_endpoint

    options = options or EngineOptions()
    clock = clock or MonotonicClock()
    run_dir = run_dir.absolute()  # outputs are recorded relative to it, wherever fleet runs
    check_endpoint(connection.arm_endpoint)
    if connection.storage_connection_string and connection.storage_account_url:
        raise UsageError("give --storage-connection-string or --storage-account-url, not both")
    if resume and not (run_dir / "journal.sqlite").is_file():
        raise RunFolderError(f"{run_dir}: no journal here (is this a fleet run folder?)")

    def emit(event: Event) -> None:
        for observer in observers:
            observer(event)

    if not resume and (run_dir / "journal.sqlite").exists():
        prepare_run_dir(run_dir)  # refuses, before any network
    await check_run_wide(
        plan, connection, resolve=resolve_secret or default_resolve_secret,
        open_storage=lambda: open_storage(connection, plan.run_id),
        storage_where=storage_where(connection), clock=clock, transport=transport,
    )
    if not resume:
        prepare_run_dir(run_dir)
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        journal, plan = _open_journal(plan, run_dir, connection, inputs or {}, resume)
    except BaseException:
        lock.release()
        raise
    try:
        meta = journal.meta()
        if resume and meta.get("awaiting_approval"):
            if not approve and approver is None:
                raise UsageError(
                    f"run {plan.run_id} is waiting for approval after wave "
                    f"{meta['awaiting_approval']}: resume it with --approve"
                )
            if approve:
                journal.set_meta(approved_through=meta["awaiting_approval"], awaiting_approval="")
        journal.set_meta(cancel_requested="", finished_at="", status="running",
                         runner_pid=str(os.getpid()))
        reasons = Counter(excluded.reason for excluded in plan.excluded)
        for reason, count in sorted(reasons.items()):
            emit(RunEvent(f"excluded {plural(count, 'machine')}: {reason}"))
        return await _execute(
            plan, journal, connection=connection, run_dir=run_dir, options=options, emit=emit,
            clock=clock, transport=transport, resolve_secret=resolve_secret, approver=approver,
            handle_signals=handle_signals, budget_base=budget_base, on_rollout=on_rollout,
            before_delete=before_delete,
            settle=resume, resolution=resolve_unknown, rollback_only=rollback_only,
        )
    finally:
        journal.close()
        lock.release()


async def _execute(
    plan: Plan,
    journal: Journal,
    *,
    connection: Connection,
    run_dir: Path,
    options: EngineOptions,
    emit: Observer,
    clock: Clock,
    transport: Transport | None,
    resolve_secret: Callable[[SecretRef], str] | None,
    approver: Approver | None,
    handle_signals: bool,
    budget_base: BudgetBase | None = None,
    on_rollout: Callable[[Rollout], None] | None = None,
    before_delete: Callable[[JobRow], Awaitable[None]] | None = None,
    settle: bool = False,
    resolution: Resolution | None = None,
    rollback_only: str | None = None,
) -> RunRecord:
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential
    from fleet.arm.retry import RetryPolicy
    from fleet.arm.throttle import ArmLimits
    from fleet.arm.transport import make_transport
    from fleet.secrets import resolve_secret as default_resolve

    machines = [m for wave in plan.waves for m in wave.machines]
    credential = build_credential(
        connection.credential, endpoint=connection.arm_endpoint, ca_file=connection.ca_file
    )
    transport = transport or make_transport(ca_file=connection.ca_file, endpoint=connection.arm_endpoint)
    arm = ArmClient(
        endpoint=connection.arm_endpoint,
        transport=transport,
        credential=credential,
        api_version=connection.api_version,
        clock=clock,
        observer=arm_notices(emit),
        request_events=False,  # arm_notices reads retries and pauses only
        limits=connection.arm_limits if connection.arm_limits is not None else ArmLimits(),
        retry=connection.retry if connection.retry is not None else RetryPolicy(),
    )
    failpoints = Failpoints.from_env()
    poller = PollScheduler(clock, options.poll)
    storage: RunStorage | None = None
    outcome: RolloutOutcome | None = None
    rollout: Rollout | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(arm.aclose)
            stack.push_async_callback(credential.aclose)
            stack.push_async_callback(poller.aclose)
            if "principal" not in journal.meta():
                journal.set_meta(principal=await principal_of(credential))
            storage = await open_storage(connection, plan.run_id)
            if storage is not None:
                stack.push_async_callback(storage.aclose)
                await storage.prepare()
            else:
                emit(RunEvent("no storage configured: only the last 4 KB of each output is kept", "warning"))
            runner = JobRunner(
                arm=arm,
                storage=storage,
                journal=journal,
                run_dir=run_dir,
                poller=poller,
                clock=clock,
                options=options,
                emit=emit,
                resolve_secret=resolve_secret or default_resolve,
                output_dirs=output_dirs(machines),
                failpoints=failpoints,
                before_delete=before_delete,
            )
            if storage is not None:
                await _recollect(plan, journal, run_dir, storage, clock, options, emit)
            rollout = Rollout(
                plan, arm=arm, runner=runner, journal=journal, clock=clock, options=options,
                emit=emit, approver=approver, failpoints=failpoints, budget_base=budget_base,
                rollback_only=rollback_only,
            )
            if settle:
                await settle_unknown(plan, journal, runner, resolution, emit)
            if on_rollout is not None:
                on_rollout(rollout)
            watcher = asyncio.get_running_loop().create_task(watch_cancel(journal, rollout))
            stack.callback(watcher.cancel)
            if handle_signals:
                stack.enter_context(handle_interrupts(rollout))
            outcome = await rollout.run()
    finally:
        record = _close_run(plan, journal, run_dir, arm, outcome, storage is not None, connection)
    return record


def _close_run(
    plan: Plan, journal: Journal, run_dir: Path, arm: ArmApi, outcome: RolloutOutcome | None,
    used_storage: bool, connection: Connection,
) -> RunRecord:
    """Record how the run ended and write its reports. A run folder that cannot be written
    (disk full) must not hide why the run stopped: failures here are only reported."""
    from fleet.report import write_reports

    stats = _arm_stats(arm)
    notes = []
    if outcome is not None and outcome.breach_reason:
        notes.append(f"rollout policy breached: {outcome.breach_reason} ({plan.rollout.on_breach})")
    if outcome is not None and outcome.awaiting_approval is not None:
        notes.append(f"waiting for approval after wave {outcome.awaiting_approval + 1}: "
                     f"`fleet resume {run_dir} --approve` continues")
    if outcome is not None and plan.origins:
        # Resource Graph lags ARM: say where the inventory's status and preflight disagreed.
        from fleet.inventory.sources.drift import status_disagreements

        notes.extend(d.note() for d in status_disagreements(plan.origins, outcome.preflight_status))
    try:
        journal.set_meta(finished_at=utc_now())
        before, throttled_before = previous_counts(journal)
        requests = {k: stats[0].get(k, 0) + before.get(k, 0) for k in {*stats[0], *before}}
        record = build_record(
            journal,
            breached=bool(outcome and outcome.breached),
            on_breach=plan.rollout.on_breach,
            interrupted=outcome is None,
            stopped=outcome.stopped if outcome else None,
            awaiting_approval=bool(outcome and outcome.awaiting_approval is not None),
            arm_requests=requests,
            throttled=stats[1] + throttled_before,
            storage=used_storage or connection.storage_connection_string is not None,
            notes=tuple(notes),
        )
        save_run_meta(journal, record)
        write_reports(run_dir, record)
        write_retry_file(run_dir, record)
    except (OSError, sqlite3.Error, FleetError):
        record = build_record(journal, status="interrupted", exit_code=EXIT_INTERRUPTED)
    return record


def arm_notices(emit: Observer) -> Callable[[ArmEvent], None]:
    """Retries and throttle pauses of the ARM client join the run's event stream (so the log
    file has them); each finished request is counted by the client, not logged."""
    from fleet.arm.events import RetryScheduled, ThrottlePaused

    def observe(event: ArmEvent) -> None:
        if isinstance(event, RetryScheduled):
            emit(ArmNotice("retry", f"{event.method} {event.url} attempt {event.attempt} "
                                    f"({event.reason}); next in {event.delay_s:.1f}s"))
        elif isinstance(event, ThrottlePaused):
            emit(ArmNotice("throttle_pause", f"ARM throttled {event.kind}s for subscription "
                                             f"{event.subscription_id}: pausing {event.pause_s:.1f}s"))

    return observe


async def _recollect(
    plan: Plan, journal: Journal, run_dir: Path, storage: BlobReader, clock: Clock,
    options: EngineOptions, emit: Observer,
) -> None:
    """On resume: fetch the outputs an earlier session could not download."""
    from fleet.engine.collect import OutputCollector
    from fleet.engine.recollect import needs_recollection, recollect_for_plan

    if not any(needs_recollection(row) for row in journal.jobs()):
        return
    collector = OutputCollector(storage=storage, run_dir=run_dir, clock=clock,
                                max_output_bytes=options.max_output_bytes, policy=options.collect)
    outcome = await recollect_for_plan(_all_jobs(plan), journal, run_dir, collector)
    emit(RunEvent(f"recollected {outcome.recovered} of {outcome.tried} output(s) an earlier "
                  "session could not download"))


async def open_storage(connection: Connection, run_id: str) -> RunStorage | None:
    """The run's storage from the connection options (None: no storage configured)."""
    from fleet.blobs import RunStorage

    if connection.storage_connection_string:
        return RunStorage.from_connection_string(connection.storage_connection_string, run_id=run_id)
    if connection.storage_account_url:
        from azure.identity.aio import DefaultAzureCredential

        return RunStorage.from_account_url(
            connection.storage_account_url, DefaultAzureCredential(), run_id=run_id
        )
    return None


def storage_where(connection: Connection) -> str:
    if connection.storage_account_url:
        return connection.storage_account_url
    parts = dict(
        part.split("=", 1) for part in (connection.storage_connection_string or "").split(";") if "=" in part
    )
    fields = {k.lower(): v for k, v in parts.items()}
    if fields.get("blobendpoint"):
        return fields["blobendpoint"]
    return f"account {fields.get('accountname', '?')}"


def _arm_stats(arm: ArmApi) -> tuple[dict[str, int], int]:
    stats = arm.stats()
    requests = {k: int(v) for k, v in stats.by_kind.items()}
    requests["total"] = sum(requests.values())
    return requests, stats.throttled
