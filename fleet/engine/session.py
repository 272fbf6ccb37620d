"""Wire one run together: run folder, journal, ARM client, storage, poller, rollout, reports.

This is the only place that builds the engine's collaborators; everything below it takes
them as arguments (so tests can drive the same code in-process against the simulator).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.engine.events import Event, Observer, RunEvent
from fleet.engine.jobs import JobRunner, request_sha256
from fleet.engine.options import Clock, EngineOptions, MonotonicClock
from fleet.engine.poller import PollScheduler
from fleet.engine.record import build_record
from fleet.engine.rollout import Rollout
from fleet.errors import RunFolderError, UsageError
from fleet.journal import Journal, utc_now
from fleet.plan.model import Plan, SecretRef
from fleet.types import MachineRef, RunRecord

__all__ = ["Connection", "execute_plan", "output_dirs", "prepare_run_dir"]


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to reach ARM and storage (the ``fleet run`` connection options)."""

    arm_endpoint: str = "https://management.azure.com"
    api_version: str = "2025-01-13"
    credential: str = "default"
    ca_file: str | None = None
    storage_connection_string: str | None = None
    storage_account_url: str | None = None
    arm_limits: Any = None  # fleet.arm.throttle.ArmLimits; None = ARM's documented defaults
    retry: Any = None  # fleet.arm.retry.RetryPolicy; None = defaults


def output_dirs(machines: Sequence[MachineRef]) -> dict[str, str]:
    """Folder name under ``output/`` per machine: its name, disambiguated when two machines in
    different resource groups share one."""
    counts: dict[str, int] = {}
    for m in machines:
        counts[m.name.lower()] = counts.get(m.name.lower(), 0) + 1
    dirs: dict[str, str] = {}
    for m in machines:
        if counts[m.name.lower()] == 1:
            dirs[m.key] = m.name
        else:
            dirs[m.key] = f"{m.name}~{m.resource_group}~{m.subscription_id[:8]}"
    return dirs


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run folder, readable by its owner only; refuse one that already has a run."""
    if (run_dir / "journal.sqlite").exists():
        raise RunFolderError(f"{run_dir}: already holds a run (use a new --run-id or `fleet resume`)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(run_dir, 0o700)
    except OSError as error:
        raise RunFolderError(f"{run_dir}: cannot create the run folder: {error.strerror}") from error


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


async def execute_plan(
    plan: Plan,
    *,
    connection: Connection,
    run_dir: Path,
    options: EngineOptions | None = None,
    observers: Sequence[Observer] = (),
    clock: Clock | None = None,
    transport: Any = None,
    resolve_secret: Callable[[SecretRef], str] | None = None,
) -> RunRecord:
    """Execute ``plan`` and write the run folder. Returns the run's record."""
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential, check_endpoint
    from fleet.arm.transport import make_transport
    from fleet.plan.render import plan_to_json
    from fleet.report import write_reports
    from fleet.secrets import resolve_secret as default_resolve

    options = options or EngineOptions()
    clock = clock or MonotonicClock()
    check_endpoint(connection.arm_endpoint)
    if connection.storage_connection_string and connection.storage_account_url:
        raise UsageError("give --storage-connection-string or --storage-account-url, not both")

    def emit(event: Event) -> None:
        for observer in observers:
            observer(event)

    prepare_run_dir(run_dir)
    _write_private(run_dir / "plan.json", json.dumps(plan_to_json(plan), indent=2) + "\n")
    journal = Journal.create(
        run_dir / "journal.sqlite",
        {
            "run_id": plan.run_id,
            "playbook_name": plan.playbook.name,
            "playbook_path": plan.playbook.path,
            "playbook_sha256": plan.playbook.sha256,
            "arm_endpoint": connection.arm_endpoint,
            "api_version": connection.api_version,
            "started_at": utc_now(),
        },
    )
    machines = [m for wave in plan.waves for m in wave.machines]
    journal.add_jobs(
        [
            (j.machine, j.step, j.step_index, j.wave, j.rollback, j.run_command_name, request_sha256(j))
            for j in (*plan.jobs, *plan.rollback_jobs)
        ]
    )
    reasons = Counter(excluded.reason for excluded in plan.excluded)
    for reason, count in sorted(reasons.items()):
        emit(RunEvent(f"excluded {count} machine(s): {reason}"))

    arm_kwargs: dict[str, Any] = {}
    if connection.arm_limits is not None:
        arm_kwargs["limits"] = connection.arm_limits
    if connection.retry is not None:
        arm_kwargs["retry"] = connection.retry
    credential = build_credential(
        connection.credential, endpoint=connection.arm_endpoint, ca_file=connection.ca_file
    )
    transport = transport or make_transport(ca_file=connection.ca_file, endpoint=connection.arm_endpoint)
    arm = ArmClient(
        endpoint=connection.arm_endpoint,
        transport=transport,
        credential=credential,
        api_version=connection.api_version,
        **arm_kwargs,
    )
    storage: Any = None
    poller = PollScheduler(clock, options.poll)
    outcome = None
    interrupted = False
    try:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(arm.aclose)
            stack.push_async_callback(credential.aclose)
            stack.push_async_callback(poller.aclose)
            storage = await _open_storage(connection, plan.run_id)
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
            )
            rollout = Rollout(
                plan, arm=arm, runner=runner, journal=journal, clock=clock, options=options, emit=emit
            )
            try:
                outcome = await rollout.run()
            except (KeyboardInterrupt, SystemExit):
                interrupted = True
                raise
    finally:
        journal.set_meta(finished_at=utc_now())
        stats = _arm_stats(arm)
        notes = []
        if outcome is not None and outcome.breach_reason:
            notes.append(f"rollout policy breached: {outcome.breach_reason} ({plan.rollout.on_breach})")
        record = build_record(
            journal,
            breached=bool(outcome and outcome.breached),
            on_breach=plan.rollout.on_breach,
            interrupted=interrupted or outcome is None,
            arm_requests=stats[0],
            throttled=stats[1],
            storage=storage is not None,
            notes=tuple(notes),
        )
        journal.set_meta(status=record.status, exit_code=str(record.exit_code))
        journal.close()
        write_reports(run_dir, record)
    return record


async def _open_storage(connection: Connection, run_id: str) -> Any:
    from fleet.blobs import RunStorage

    if connection.storage_connection_string:
        return RunStorage.from_connection_string(connection.storage_connection_string, run_id=run_id)
    if connection.storage_account_url:
        from azure.identity.aio import DefaultAzureCredential

        return RunStorage.from_account_url(
            connection.storage_account_url, DefaultAzureCredential(), run_id=run_id
        )
    return None


def _arm_stats(arm: Any) -> tuple[dict[str, int], int]:
    stats = arm.stats()
    by_kind = dict(getattr(stats, "by_kind", {}) or {})
    requests = {k: int(v) for k, v in by_kind.items()}
    requests["total"] = sum(requests.values())
    return requests, int(getattr(stats, "throttled", 0) or 0)
