"""Build the run's record (what reports show) from the journal: the journal is the truth."""

from __future__ import annotations

from collections.abc import Mapping

from fleet.errors import EXIT_FAILED, EXIT_HALTED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE
from fleet.journal import Journal
from fleet.types import JobResult, JobState, RunRecord, WaveRecord

__all__ = ["build_record", "run_status"]


def run_status(
    results: list[JobResult], *, breached: bool, on_breach: str, interrupted: bool
) -> tuple[str, int]:
    """The run's status and exit code (README: exit codes)."""
    if interrupted:
        return "interrupted", EXIT_INTERRUPTED
    if breached and on_breach != "continue":
        return "halted", EXIT_HALTED
    main = [r for r in results if not r.rollback]
    if any(r.state.is_failure or r.state == JobState.CANCELED for r in main):
        return "failed", EXIT_FAILED
    if any(not r.state.terminal for r in main):
        return "interrupted", EXIT_INTERRUPTED
    if any(r.state == JobState.UNREACHABLE for r in main):
        return "unreachable", EXIT_UNREACHABLE
    return "succeeded", EXIT_OK


def build_record(
    journal: Journal,
    *,
    status: str | None = None,
    exit_code: int | None = None,
    breached: bool = False,
    on_breach: str = "halt",
    interrupted: bool = False,
    arm_requests: Mapping[str, int] | None = None,
    throttled: int = 0,
    storage: bool = True,
    notes: tuple[str, ...] = (),
) -> RunRecord:
    meta = journal.meta()
    results = [row.to_result() for row in journal.jobs()]
    if status is None or exit_code is None:
        status, exit_code = run_status(
            results, breached=breached, on_breach=on_breach, interrupted=interrupted
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
        results=tuple(results),
        notes=notes,
    )
