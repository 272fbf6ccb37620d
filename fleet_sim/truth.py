"""Ground truth: what really happened on each simulated machine, for checking a client's report.

``FleetState`` appends one :class:`Launch` per PUT that launched (or tried to launch) an
execution; they survive the run command's deletion, so after a run the simulator can say, per
machine, whether a script ran, how it ended and what it wrote, whatever the client believes.
Served read-only at ``GET /_sim/truth``. Secrets are never part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet_sim.agent import Execution

__all__ = ["ExecutionTruth", "Launch", "LaunchMarks", "truth_json"]


@dataclass(slots=True)
class LaunchMarks:
    """What clients were told about one launch (the ARM side updates it as it answers).

    ``end_reported``: some answer (GET, list, PUT/PATCH body) showed this execution ended,
    before any DELETE or replacing PUT of its run command. A client that declared a timeout
    without such an answer could not have known the script ended (it ended after the client's
    last look): fleet's contract allows that verdict. ``stop_requested_at``: when a DELETE or a
    replacing PUT asked the execution to stop (ISO 8601, wall clock)."""

    end_reported: bool = False
    stop_requested_at: str | None = None


@dataclass(frozen=True, slots=True)
class Launch:
    """One launch as the ARM side decided it: ``kind`` is ``executed``, ``stuck`` or
    ``unreachable`` (disconnected or old agent: the script never reached the machine)."""

    machine_id: str
    machine_name: str
    run_command: str
    kind: str
    execution: Execution | None = None
    reason: str | None = None
    marks: LaunchMarks = field(default_factory=LaunchMarks)


@dataclass(frozen=True, slots=True)
class ExecutionTruth:
    run_command: str
    kind: str
    execution_state: str | None
    exit_code: int | None
    output_bytes: int
    error_bytes: int
    blob_failure: str | None
    reason: str | None
    start_time: str | None = None  # when the script started (ISO 8601, the agent's clock)
    end_time: str | None = None  # when it ended; None while it runs or never ran
    end_reported: bool = False  # see LaunchMarks
    stop_requested_at: str | None = None

    @classmethod
    def of(cls, launch: Launch) -> ExecutionTruth:
        execution = launch.execution
        marks = launch.marks
        if execution is None:
            return cls(launch.run_command, launch.kind, None, None, 0, 0, None, launch.reason,
                       stop_requested_at=marks.stop_requested_at)  # fmt: skip
        view = execution.instance_view()
        failures = [s.get("message", "") for s in view.get("statuses", ())]
        return cls(
            run_command=launch.run_command,
            kind=launch.kind,
            execution_state=str(view.get("executionState")),
            exit_code=view.get("exitCode"),
            output_bytes=execution.output_bytes,
            error_bytes=execution.error_bytes,
            blob_failure="; ".join(failures) or None,
            reason=launch.reason,
            start_time=view.get("startTime"),
            end_time=view.get("endTime"),
            end_reported=marks.end_reported,
            stop_requested_at=marks.stop_requested_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "run_command": self.run_command,
            "kind": self.kind,
            "execution_state": self.execution_state,
            "exit_code": self.exit_code,
            "output_bytes": self.output_bytes,
            "error_bytes": self.error_bytes,
            "blob_failure": self.blob_failure,
            "reason": self.reason,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "end_reported": self.end_reported,
            "stop_requested_at": self.stop_requested_at,
        }


def truth_json(launches: list[Launch]) -> dict[str, Any]:
    """``{"machines": {machine id (lower case): [execution truth, ...]}}`` in launch order."""
    machines: dict[str, list[dict[str, Any]]] = {}
    for launch in launches:
        machines.setdefault(launch.machine_id.lower(), []).append(
            ExecutionTruth.of(launch).as_json()
        )
    return {"machines": machines}
