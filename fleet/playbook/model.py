"""A playbook as validated values: still templates (rendered per machine by the plan)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fleet.sweep.model import Check
from fleet.types import RolloutPolicy

__all__ = [
    "Param",
    "Playbook",
    "RolloutSpec",
    "RunAsSpec",
    "StepSpec",
    "SuccessSpec",
    "Tmpl",
    "WaveKind",
    "WaveSpec",
]

WaveKind = Literal["count", "percent", "pattern"]


@dataclass(frozen=True, slots=True)
class Tmpl:
    """A value from the playbook and where it was written. ``value`` is a template when it is
    a string; numbers and booleans are kept as written (converted to text when sent)."""

    value: Any
    line: int | None
    field: str


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    value: Tmpl


@dataclass(frozen=True, slots=True)
class RunAsSpec:
    user: Tmpl
    password: Tmpl | None = None


@dataclass(frozen=True, slots=True)
class SuccessSpec:
    exit_codes: tuple[int, ...] = (0,)
    output_matches: tuple[Tmpl, ...] = ()
    output_not_matches: tuple[Tmpl, ...] = ()


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step. Exactly one of ``script`` (inline or from ``script_file``), ``script_uri``,
    ``command_id`` is set. ``script_file`` is the path written in the playbook (resolved)."""

    name: str
    line: int | None
    script: Tmpl | None = None
    script_file: str | None = None
    script_uri: Tmpl | None = None
    command_id: Tmpl | None = None
    parameters: tuple[Param, ...] = ()
    protected_parameters: tuple[Param, ...] = ()
    run_as: RunAsSpec | None = None
    timeout_s: int = 3600
    async_execution: bool = False
    when: Tmpl | None = None
    success: SuccessSpec = field(default_factory=SuccessSpec)
    template: bool = True  # False: script text is sent as written (no Jinja)


@dataclass(frozen=True, slots=True)
class WaveSpec:
    """One wave as written: ``kind`` is ``count`` (value = int), ``percent`` (value = int 1-100)
    or ``pattern`` (value = host pattern)."""

    label: str
    kind: WaveKind
    value: int | str
    line: int | None


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    waves: tuple[WaveSpec, ...] = ()
    policy: RolloutPolicy = field(default_factory=RolloutPolicy)
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Playbook:
    path: str
    sha256: str
    name: str
    hosts: str
    hosts_line: int | None
    os: str | None
    vars: tuple[tuple[str, Tmpl], ...]
    steps: tuple[StepSpec, ...]
    rollback: tuple[StepSpec, ...] = ()
    rollout: RolloutSpec = field(default_factory=RolloutSpec)
    warnings: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()  # a sweep: one step ("sweep") runs these, compiled per OS
