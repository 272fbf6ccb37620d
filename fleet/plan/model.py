"""The plan: what ``fleet plan`` prints and what the engine executes. Pure values, no I/O.

A plan is inventory + playbook + extra vars rendered per machine: ordered waves, one job per
machine and step (each with its fully rendered run command request body), rollback jobs,
excluded machines with reasons. Secrets appear only as ``SecretRef`` values, resolved by the
engine at dispatch time and shown as ``***`` everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.types import REDACTED, MachineOrigin, MachineRef, RolloutPolicy, SecretRef

__all__ = [
    "REDACTED",
    "Excluded",
    "Job",
    "MachineOrigin",
    "Plan",
    "PlaybookInfo",
    "RolloutPolicy",
    "SecretRef",
    "StepInfo",
    "Success",
    "Wave",
]

@dataclass(frozen=True, slots=True)
class Success:
    """What counts as success for one step."""

    exit_codes: tuple[int, ...] = (0,)
    output_must_match: tuple[str, ...] = ()  # regexes, each must match somewhere in stdout
    output_must_not_match: tuple[str, ...] = ()  # regexes, none may match


@dataclass(frozen=True, slots=True)
class Job:
    """One machine, one step: everything the engine needs to PUT the run command.

    ``request`` is the JSON-ready PUT body without blob URIs (the engine adds SAS links),
    without ``protectedParameters`` and without ``runAsPassword`` (the engine adds those from
    ``protected_parameters`` / ``run_as_password`` after resolving the secrets).
    ``script_upload`` holds a large script's text when it must go as a ``scriptUri`` instead
    of inline; then ``request["properties"]["source"]`` is empty and the engine fills it.
    Jobs with equal bodies share one ``request`` object: read it, copy it, never change it.
    """

    machine: MachineRef
    step: str
    step_index: int
    wave: int
    run_command_name: str
    output_blob: str
    error_blob: str
    request: Mapping[str, Any]
    timeout_s: int
    success: Success = field(default_factory=Success)
    protected_parameters: tuple[tuple[str, SecretRef], ...] = ()
    run_as_password: SecretRef | None = None
    when: str | None = None  # Jinja expression over earlier steps' results, evaluated at run time
    script_upload: str | None = None
    rollback: bool = False


@dataclass(frozen=True, slots=True)
class Wave:
    index: int
    label: str  # "1", "10%", "canary", ...
    machines: tuple[MachineRef, ...]


@dataclass(frozen=True, slots=True)
class StepInfo:
    name: str
    when: str | None = None


@dataclass(frozen=True, slots=True)
class Excluded:
    machine: MachineRef
    reason: str


@dataclass(frozen=True, slots=True)
class PlaybookInfo:
    name: str
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Plan:
    run_id: str
    playbook: PlaybookInfo
    waves: tuple[Wave, ...]
    steps: tuple[StepInfo, ...]
    jobs: tuple[Job, ...]
    rollback_steps: tuple[StepInfo, ...] = ()
    rollback_jobs: tuple[Job, ...] = ()
    excluded: tuple[Excluded, ...] = ()
    rollout: RolloutPolicy = field(default_factory=RolloutPolicy)
    warnings: tuple[str, ...] = ()
    origins: tuple[MachineOrigin, ...] = ()  # per planned machine from an Azure source
