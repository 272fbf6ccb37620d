"""Value types that cross stages: a machine, a job's state, a job's result, a run's record.

Every stage hands the next one frozen values (see STYLE.md rule 1). The plan's own types live
in ``fleet.plan.model``; these are the ones the inventory, engine and report share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "JobResult",
    "JobState",
    "MachineRef",
    "RunRecord",
    "StreamCapture",
    "WaveRecord",
    "machine_resource_id",
]

ARM_MACHINE_PROVIDER = "Microsoft.HybridCompute/machines"


def machine_resource_id(subscription_id: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/{ARM_MACHINE_PROVIDER}/{name}"
    )


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
        """Identity for maps and comparisons: ARM ids are case-insensitive."""
        return self.resource_id.lower()


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

    @property
    def terminal(self) -> bool:
        return self not in (JobState.PENDING, JobState.DISPATCHED, JobState.RUNNING)

    @property
    def is_failure(self) -> bool:
        """Counts against the failure budget (unreachable has its own budget)."""
        return self in (JobState.FAILED, JobState.TIMED_OUT, JobState.STUCK, JobState.ERROR)


@dataclass(frozen=True, slots=True)
class StreamCapture:
    """What fleet kept of one output stream (stdout or stderr) of one job.

    ``source`` is ``blob`` (full append blob downloaded), ``instance_view`` (only ARM's last
    4 KB, no storage configured) or ``none`` (nothing could be read; ``reason`` on the row).
    ``path`` is relative to the run folder.
    """

    source: str = "none"
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


@dataclass(frozen=True, slots=True)
class WaveRecord:
    index: int
    machines: int
    started_at: str | None = None
    ended_at: str | None = None
    state: str = "pending"  # pending | running | done | halted | skipped


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything a report needs about one run."""

    run_id: str
    playbook_name: str
    playbook_path: str
    started_at: str | None
    finished_at: str | None
    status: str  # succeeded | failed | halted | unreachable | interrupted | running
    exit_code: int
    arm_requests: dict[str, int] = field(default_factory=dict)  # read/write/delete/total
    throttled: int = 0
    storage: bool = True  # False: only instanceView's last 4 KB was available
    waves: tuple[WaveRecord, ...] = ()
    results: tuple[JobResult, ...] = ()
    notes: tuple[str, ...] = ()
