"""Build the run's record (what reports show) from the journal: the journal is the truth."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from fleet.errors import (
    EXIT_FAILED,
    EXIT_HALTED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    RunFolderError,
)
from fleet.journal import Journal
from fleet.types import (
    RUN_STATUSES,
    JobResult,
    JobState,
    MachineRef,
    OnBreach,
    RunRecord,
    RunStatus,
    StreamCapture,
    WaveRecord,
    canceled_by_operator,
    one_of,
)

if TYPE_CHECKING:
    from fleet.engine.rollout import StopKind

__all__ = ["build_record", "record_from_journal", "run_status", "save_run_meta"]


def run_status(
    results: Sequence[JobResult],
    *,
    breached: bool,
    on_breach: OnBreach,
    interrupted: bool,
    stopped: StopKind | None = None,
    awaiting_approval: bool = False,
) -> tuple[RunStatus, int]:
    """The run's status and exit code (README: exit codes)."""
    if stopped == "canceled":
        return "canceled", EXIT_INTERRUPTED
    if interrupted or stopped:
        return "interrupted", EXIT_INTERRUPTED
    if breached and on_breach != "continue":
        return "halted", EXIT_HALTED
    if awaiting_approval:
        return "awaiting_approval", EXIT_HALTED
    main = [r for r in results if not r.rollback]
    if any(r.state == JobState.UNKNOWN for r in main):
        # Some machine may or may not have run: the operator must say (resume --resolve-unknown).
        return "unresolved", EXIT_FAILED
    by_operator = [canceled_by_operator(r.state.value, r.reason) for r in main]
    if any(r.state.is_failure or (r.state == JobState.CANCELED and not mine)
           for r, mine in zip(main, by_operator, strict=True)):
        return "failed", EXIT_FAILED
    if any(not r.state.terminal for r in main):
        return "interrupted", EXIT_INTERRUPTED
    if any(by_operator):  # the operator stopped these in flight: canceled, never failed
        return "canceled", EXIT_INTERRUPTED
    # Never claim more than happened: a machine held back (not by a false `when:`) did not
    # succeed, whatever the rest did (e.g. canceled at a gate, then resumed with --approve).
    held = [r.reason or "" for r in main if r.state == JobState.SKIPPED and not (r.reason or "").startswith("when:")]
    if any("canceled" in why for why in held):
        return "canceled", EXIT_INTERRUPTED
    if any("halted" in why for why in held):
        return "halted", EXIT_HALTED
    if held:
        return "failed", EXIT_FAILED
    if any(r.state == JobState.UNREACHABLE for r in main):
        return "unreachable", EXIT_UNREACHABLE
    return "succeeded", EXIT_OK


class _Shared:
    """One copy of each value that repeats from row to row (a subscription, a resource group,
    a step's name, the digest of an empty stream, the group digest of equal outputs): each
    journal row decodes its own copies, and a 10,000-row record held ~40 % duplicates."""

    def __init__(self) -> None:
        self._values: dict[str | None, str | None] = {}

    def __call__(self, value: str | None) -> str | None:
        return self._values.setdefault(value, value)

    def machine(self, m: MachineRef) -> MachineRef:
        return MachineRef(
            subscription_id=self(m.subscription_id) or "",
            resource_group=self(m.resource_group) or "",
            name=m.name,
            location=self(m.location) or "",
            os_type=self(m.os_type) or "",
        )

    def capture(self, c: StreamCapture) -> StreamCapture:
        return dataclasses.replace(
            c, sha256=self(c.sha256), group_sha256=self(c.group_sha256),
            excerpt=self(c.excerpt) or "",
        )

    def result(self, r: JobResult) -> JobResult:
        return dataclasses.replace(
            r, machine=self.machine(r.machine), step=self(r.step) or "",
            output=self.capture(r.output), error=self.capture(r.error),
        )


def _results(rows: Iterable[JobResult]) -> tuple[JobResult, ...]:
    shared = _Shared()
    return tuple(shared.result(r) for r in rows)


def build_record(
    journal: Journal,
    *,
    status: RunStatus | None = None,
    exit_code: int | None = None,
    breached: bool = False,
    on_breach: OnBreach = "halt",
    interrupted: bool = False,
    stopped: StopKind | None = None,
    awaiting_approval: bool = False,
    arm_requests: Mapping[str, int] | None = None,
    throttled: int = 0,
    storage: bool = True,
    notes: tuple[str, ...] = (),
) -> RunRecord:
    meta = journal.meta()
    results = _results(row.to_result() for row in journal.jobs())
    if status is None or exit_code is None:
        status, exit_code = run_status(
            results, breached=breached, on_breach=on_breach, interrupted=interrupted,
            stopped=stopped, awaiting_approval=awaiting_approval,
        )
    waves = tuple(
        WaveRecord(index=w, machines=n, started_at=s, ended_at=e, state=state)
        for w, _label, n, state, s, e in journal.waves()
    )
    return RunRecord(
        run_id=meta.get("run_id", ""),
        playbook_name=meta.get("playbook_name", ""),
        playbook_path=meta.get("playbook_path", ""),
        started_at=meta.get("started_at"),
        finished_at=meta.get("finished_at"),
        status=status,
        exit_code=exit_code,
        arm_requests=dict(arm_requests or {}),
        throttled=throttled,
        storage=storage,
        waves=waves,
        results=results,
        notes=notes,
    )


def save_run_meta(journal: Journal, record: RunRecord) -> None:
    """Keep what the journal's rows do not hold, so every report can be rebuilt from it."""
    journal.set_meta(
        status=record.status,
        exit_code=str(record.exit_code),
        arm_requests=json.dumps(record.arm_requests, sort_keys=True),
        throttled=str(record.throttled),
        storage_used="1" if record.storage else "0",
        notes=json.dumps(list(record.notes)),
    )


def previous_counts(journal: Journal) -> tuple[dict[str, int], int]:
    """ARM requests of earlier sessions of this run (before a crash or an approval gate)."""
    meta = journal.meta()
    try:
        requests = {k: int(v) for k, v in json.loads(meta.get("arm_requests") or "{}").items()}
        return requests, int(meta.get("throttled") or 0)
    except (ValueError, AttributeError):
        return {}, 0


def record_from_journal(journal: Journal) -> RunRecord:
    """The run's record as the journal has it (``fleet report``, ``fleet status``)."""
    meta = journal.meta()
    requests, throttled = previous_counts(journal)
    try:
        notes = tuple(json.loads(meta.get("notes") or "[]"))
    except ValueError:
        notes = ()
    status = one_of(RUN_STATUSES, meta.get("status") or "running")
    if status is None:
        raise RunFolderError(f"the journal has a run status this fleet does not know: "
                             f"{meta.get('status', '')[:40]!r}")
    try:
        exit_code = int(meta.get("exit_code") or 0)
    except ValueError:
        exit_code = 0
    return build_record(
        journal,
        status=status,
        exit_code=exit_code,
        arm_requests=requests,
        throttled=throttled,
        storage=meta.get("storage_used", "1") == "1",
        notes=notes,
    )
