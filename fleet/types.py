"""Value types that cross stages: a machine, a job's state, a job's result, a run's record,
a secret reference, a rollout policy, where a machine came from.

Every stage hands the next one frozen values (see STYLE.md rule 1). This module is the bottom
layer with ``fleet.errors``: it imports nothing from fleet, and every layer may import it.
The plan's own types (jobs, waves) live in ``fleet.plan.model``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeVar, get_args

__all__ = [
    "CAPTURE_SOURCES",
    "OPERATOR_CANCEL_REASONS",
    "REDACTED",
    "RUN_STATUSES",
    "WAVE_STATES",
    "CaptureSource",
    "FailuresPer",
    "JobResult",
    "JobState",
    "MachineOrigin",
    "MachineRef",
    "OnBreach",
    "RollbackOn",
    "RollbackTargets",
    "RolloutPolicy",
    "RunRecord",
    "RunStatus",
    "SecretRef",
    "StreamCapture",
    "WaveRecord",
    "WaveState",
    "canceled_by_operator",
    "machine_resource_id",
    "one_of",
]

ARM_MACHINE_PROVIDER = "Microsoft.HybridCompute/machines"


def machine_resource_id(subscription_id: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/{ARM_MACHINE_PROVIDER}/{name}"
    )


# The reasons a job carries when the operator stopped it (``fleet cancel``, Ctrl-C twice): such
# a job is never a failure, for the budgets or the run's status.
OPERATOR_CANCEL_REASONS = ("canceled by the operator", "interrupted (stopped in flight)")


def canceled_by_operator(state: str, reason: str | None) -> bool:
    return state == "canceled" and (reason or "") in OPERATOR_CANCEL_REASONS


@dataclass(frozen=True, slots=True)
class MachineRef:
    """Where an Arc machine lives in ARM. ``os_type`` is ``windows`` or ``linux`` (lower case)."""

    subscription_id: str
    resource_group: str
    name: str
    location: str = ""
    os_type: str = ""

    @property
    def resource_id(self) -> str:
        return machine_resource_id(self.subscription_id, self.resource_group, self.name)

    @property
    def key(self) -> str:
        """Identity for maps and comparisons: ARM ids are case-insensitive. Interned: the
        rollout, its outcome, the preflight and the progress display each key a map of the
        whole fleet by it, and one string per machine (not one per map) is ~6 MB at 10,000."""
        return sys.intern(self.resource_id.lower())


class JobState(StrEnum):
    """The status taxonomy of one job (one machine, one step). README documents each."""

    PENDING = "pending"  # planned, not yet sent
    DISPATCHED = "dispatched"  # PUT sent (or about to be), outcome not yet known
    RUNNING = "running"  # ARM accepted it; executing on the machine
    SUCCEEDED = "succeeded"  # terminal: met the step's success criteria
    FAILED = "failed"  # terminal: exit code or output patterns said no
    TIMED_OUT = "timed_out"  # terminal: no end by timeout + margin, or agent said TimedOut
    CANCELED = "canceled"  # terminal: stopped by fleet (abort, cancel) or by someone else
    UNREACHABLE = "unreachable"  # terminal: preflight said not Connected / old agent / wrong OS
    STUCK = "stuck"  # terminal: provisioning never left Creating
    ERROR = "error"  # terminal: could not dispatch or observe after retries
    SKIPPED = "skipped"  # terminal: the rollout policy (or a failed earlier step) kept it back
    # terminal until the operator resolves it (`fleet resume --resolve-unknown`): the PUT may
    # have reached ARM, the run command is gone, and nothing shows whether it ran
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self not in (JobState.PENDING, JobState.DISPATCHED, JobState.RUNNING)

    @property
    def is_failure(self) -> bool:
        """Counts against the failure budget (unreachable has its own budget)."""
        return self in (
            JobState.FAILED, JobState.TIMED_OUT, JobState.STUCK, JobState.ERROR, JobState.UNKNOWN
        )


_Word = TypeVar("_Word", bound=str)


def one_of(vocabulary: tuple[_Word, ...], value: object) -> _Word | None:
    """``value`` as a member of a closed vocabulary (the values of a ``Literal``), or None:
    how a string read back from a file or the journal becomes a typed one."""
    for member in vocabulary:
        if member == value:
            return member
    return None


CaptureSource = Literal["blob", "instance_view", "none"]
CAPTURE_SOURCES: tuple[CaptureSource, ...] = get_args(CaptureSource)


@dataclass(frozen=True, slots=True)
class StreamCapture:
    """What fleet kept of one output stream (stdout or stderr) of one job.

    ``source`` is ``blob`` (full append blob downloaded), ``instance_view`` (only ARM's last
    4 KB, no storage configured) or ``none`` (nothing could be read; ``reason`` on the row).
    ``path`` is relative to the run folder.
    """

    source: CaptureSource = "none"
    path: str | None = None
    size_bytes: int = 0
    sha256: str | None = None
    truncated: bool = False
    excerpt: str = ""
    # sha256 of the kept bytes with the machine's own name (any case) replaced by "<machine>":
    # outputs that differ only by the hostname they print are grouped together.
    group_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    machine: MachineRef
    step: str
    wave: int
    state: JobState
    run_command_name: str = ""
    exit_code: int | None = None
    started_at: str | None = None  # ISO 8601 UTC
    ended_at: str | None = None
    attempts: int = 0
    polls: int = 0
    output: StreamCapture = field(default_factory=StreamCapture)
    error: StreamCapture = field(default_factory=StreamCapture)
    reason: str | None = None
    rollback: bool = False


WaveState = Literal["pending", "running", "done", "halted", "stopped", "skipped"]
WAVE_STATES: tuple[WaveState, ...] = get_args(WaveState)
RunStatus = Literal[
    "running", "succeeded", "failed", "halted", "unreachable", "interrupted", "canceled",
    "awaiting_approval", "unresolved",
]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)


@dataclass(frozen=True, slots=True)
class WaveRecord:
    index: int
    machines: int
    started_at: str | None = None
    ended_at: str | None = None
    state: WaveState = "pending"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything a report needs about one run."""

    run_id: str
    playbook_name: str
    playbook_path: str
    started_at: str | None
    finished_at: str | None
    status: RunStatus
    exit_code: int
    arm_requests: dict[str, int] = field(default_factory=dict)  # read/write/delete/total
    throttled: int = 0
    storage: bool = True  # False: only instanceView's last 4 KB was available
    waves: tuple[WaveRecord, ...] = ()
    results: tuple[JobResult, ...] = ()
    notes: tuple[str, ...] = ()


FailuresPer = Literal["run", "wave"]
OnBreach = Literal["halt", "abort", "continue"]
RollbackOn = Literal["breach", "never"]
RollbackTargets = Literal["ran", "failed", "succeeded"]

REDACTED = "***"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret: ``env:NAME``, ``file:PATH``, or ``literal`` (an inline protected
    value from the playbook). The value itself is never held here except for ``literal``, and
    ``repr`` never shows it."""

    scheme: str
    ref: str

    def __repr__(self) -> str:
        shown = REDACTED if self.scheme == "literal" else self.ref
        return f"SecretRef({self.scheme}:{shown})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class MachineOrigin:
    """Which inventory source a planned machine came from and when it was listed (ISO 8601
    UTC), with the status that source reported; machines only the static file knows have none."""

    machine: MachineRef
    source: str
    snapshot_at: str
    status: str | None = None
    from_cache: bool = False


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """Rollout as declared in the playbook, validated. Counts and percents are kept as written
    ("10%") where the engine must resolve them against a changing base; waves are resolved
    to machines in ``Plan.waves``."""

    max_concurrency: str = "50"  # count or percent of the wave
    slow_start: bool = False
    max_failures: str | None = None  # None = no budget (never trips); "0" = first failure trips
    failures_per: FailuresPer = "run"
    max_unreachable: str | None = None
    count_timeout_as_failure: bool = True
    on_breach: OnBreach = "halt"
    pause_s: int = 0
    approve: bool = False
    verify_step: str | None = None
    rollback_on: RollbackOn = "breach"
    rollback_targets: RollbackTargets = "ran"
