"""The engine's stream of frozen event records. Progress, logs and counters are observers.

Events never carry secrets: machine names, states, codes and short reasons only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fleet.journal import JobRow
from fleet.types import JobState, StreamCapture

__all__ = [
    "ArmNotice",
    "Event",
    "JobEvent",
    "Observer",
    "RunEvent",
    "WaveEvent",
    "WaveEventState",
    "finished_event_extras",
]

WaveEventState = Literal["started", "done", "halted", "stopped", "skipped"]


@dataclass(frozen=True, slots=True)
class JobEvent:
    machine: str
    step: str
    state: JobState
    wave: int
    detail: str | None = None
    rollback: bool = False
    kind: str = "job"
    duration_s: float | None = None  # terminal jobs: from ARM's acceptance to the verdict
    first_line: str | None = None  # terminal jobs: the output's first line (terminal only, never logged)


@dataclass(frozen=True, slots=True)
class WaveEvent:
    wave: int
    label: str
    machines: int
    state: WaveEventState
    kind: str = "wave"


@dataclass(frozen=True, slots=True)
class RunEvent:
    message: str
    level: Literal["info", "warning"] = "info"
    kind: str = "run"


@dataclass(frozen=True, slots=True)
class ArmNotice:
    """A retry or a throttle pause in the ARM client (URLs already redacted)."""

    what: Literal["retry", "throttle_pause"]
    detail: str
    kind: str = "arm"


Event = JobEvent | WaveEvent | RunEvent | ArmNotice
Observer = Callable[[Event], None]


def finished_event_extras(row: JobRow | None, output: StreamCapture) -> dict[str, Any]:
    """For the ``-v`` line of a finished job: how long it ran, its output's first line."""
    extras: dict[str, Any] = {}
    started = row.started_at if row is not None else None
    if started:
        try:
            begun = datetime.fromisoformat(started.replace("Z", "+00:00"))
            extras["duration_s"] = max(0.0, (datetime.now(UTC) - begun).total_seconds())
        except ValueError:
            pass
    first = next((line.strip() for line in (output.excerpt or "").splitlines() if line.strip()), "")
    if first:
        extras["first_line"] = first[:200]
    return extras
