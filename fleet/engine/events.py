"""The engine's stream of frozen event records. Progress, logs and counters are observers.

Events never carry secrets: machine names, states, codes and short reasons only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleet.types import JobState

__all__ = ["ArmNotice", "Event", "JobEvent", "Observer", "RunEvent", "WaveEvent"]


@dataclass(frozen=True, slots=True)
class JobEvent:
    machine: str
    step: str
    state: JobState
    wave: int
    detail: str | None = None
    rollback: bool = False
    kind: str = "job"


@dataclass(frozen=True, slots=True)
class WaveEvent:
    wave: int
    label: str
    machines: int
    state: str  # started | done | halted | skipped
    kind: str = "wave"


@dataclass(frozen=True, slots=True)
class RunEvent:
    message: str
    level: str = "info"  # info | warning
    kind: str = "run"


@dataclass(frozen=True, slots=True)
class ArmNotice:
    """A retry or a throttle pause in the ARM client (URLs already redacted)."""

    what: str  # "retry" | "throttle_pause"
    detail: str
    kind: str = "arm"


Event = JobEvent | WaveEvent | RunEvent | ArmNotice
Observer = Callable[[Event], None]
