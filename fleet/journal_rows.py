"""The journal's rows as values: how a job's row is read back and how its columns are written.

The codec beside the store (``fleet.journal``): JSON columns to value types and back, a
damaged row a ``RunFolderError`` naming it, never a ``TypeError``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from fleet.errors import RunFolderError
from fleet.types import (
    WAVE_STATES,
    JobResult,
    JobState,
    MachineRef,
    StreamCapture,
    WaveState,
    one_of,
)

__all__ = [
    "ROWS_PER_FETCH",
    "JobRow",
    "column_values",
    "job_key",
    "job_row",
    "utc_now",
    "wave_state",
]

# Rows read from SQLite at a time when a caller iterates jobs.
ROWS_PER_FETCH = 256


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_key(machine: MachineRef, step: str, rollback: bool = False) -> str:
    return f"{machine.key}|{'rollback:' if rollback else ''}{step}"


@dataclass(frozen=True, slots=True)
class JobRow:
    job_key: str
    machine: MachineRef
    step: str
    step_index: int
    wave: int
    rollback: bool
    run_command_name: str
    state: JobState
    exit_code: int | None
    attempts: int
    polls: int
    started_at: str | None
    ended_at: str | None
    reason: str | None
    output: StreamCapture
    error: StreamCapture

    def to_result(self) -> JobResult:
        return JobResult(
            machine=self.machine,
            step=self.step,
            wave=self.wave,
            state=self.state,
            run_command_name=self.run_command_name,
            exit_code=self.exit_code,
            started_at=self.started_at,
            ended_at=self.ended_at,
            attempts=self.attempts,
            polls=self.polls,
            output=self.output,
            error=self.error,
            reason=self.reason,
            rollback=self.rollback,
        )


_COLUMNS = frozenset(
    {"state", "exit_code", "started_at", "ended_at", "reason", "output", "error", "attempts"}
)


def column_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in _COLUMNS:
            raise ValueError(f"not a journal column: {name}")
        if name in ("output", "error"):
            columns[f"{name}_json"] = _capture_json(value) if value is not None else None
        elif isinstance(value, JobState):
            columns[name] = value.value
        else:
            columns[name] = value
    return columns


_CAPTURE_FIELDS = tuple(f.name for f in fields(StreamCapture))


def _capture_json(capture: StreamCapture) -> str:
    """A capture's JSON column: its fields are plain values, so no ``asdict`` (which deep-copies
    every value, a measurable share of a machine's journal work)."""
    return json.dumps({name: getattr(capture, name) for name in _CAPTURE_FIELDS})


def wave_state(text: str) -> WaveState:
    state = one_of(WAVE_STATES, text)
    if state is None:
        raise RunFolderError(f"the journal has a wave state this fleet does not know: {text[:40]!r}")
    return state


T = TypeVar("T")


def _record(kind: type[T], text: str, what: str) -> T:
    """A value type from its JSON column; a damaged row is a RunFolderError naming it, never a
    TypeError (a journal is a file anyone with access can edit)."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(what)
        return kind(**data)
    except (ValueError, TypeError, RecursionError) as error:
        raise RunFolderError(f"the journal is damaged: a job's {what} cannot be read "
                             "(edited by hand?)") from error


@functools.lru_cache(maxsize=2048)
def _machine(text: str) -> MachineRef:
    """A row's machine: the same text for the job's whole life, parsed once while it runs
    (MachineRef is frozen, so sharing one is safe)."""
    return _record(MachineRef, text, "machine")


def _capture(text: str | None) -> StreamCapture:
    return _record(StreamCapture, text, "output record") if text else StreamCapture()


def job_row(row: tuple[Any, ...]) -> JobRow:
    """A ``jobs`` row as selected by ``Journal._rows`` (columns in that order)."""
    return JobRow(
        job_key=row[0],
        machine=_machine(row[1]),
        step=row[2],
        step_index=row[3],
        wave=row[4],
        rollback=bool(row[5]),
        run_command_name=row[6],
        state=JobState(row[7]),
        exit_code=row[8],
        attempts=row[9],
        polls=row[10],
        started_at=row[11],
        ended_at=row[12],
        reason=row[13],
        output=_capture(row[14]),
        error=_capture(row[15]),
    )
