"""The simulator's ARM state: machines, run commands and long-running operations, and the run
command semantics of API.md §4 (PUT runs, identical PUT does not re-run, changed PUT/PATCH stops
and re-runs, DELETE stops and removes, Disconnected / old-agent machines never execute).

Provisioning and operation states are derived on demand from the live ``Execution`` the agent
owns, so nothing has to be polled or ticked on the server side.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fleet_sim.agent import Execution, ExecutionRequest
from fleet_sim.armjson import iso_now
from fleet_sim.clock import SimClock
from fleet_sim.config import Behaviour
from fleet_sim.faults import FaultInjector
from fleet_sim.fleetgen import SimMachine, version_tuple
from fleet_sim.stats import SimStats
from fleet_sim.truth import Launch

__all__ = ["AgentLike", "FleetState", "Operation", "RunCommand", "Unreachable"]

TERMINAL_EXECUTION = ("Succeeded", "Failed", "TimedOut", "Canceled")


class AgentLike(Protocol):
    def start(self, request: ExecutionRequest) -> Execution: ...


@dataclass(frozen=True, slots=True)
class Unreachable:
    """Why a machine does not execute run commands (an ARM error code and message)."""

    code: str
    message: str


@dataclass(slots=True)
class RunCommand:
    """One run command resource (live, mutable)."""

    machine: SimMachine
    name: str
    location: str
    tags: dict[str, str] | None
    properties: dict[str, Any]  # as accepted, without runAsPassword
    password: str | None = field(repr=False)
    fingerprint: str = field(repr=False)
    generation: int = 0
    execution: Execution | None = None
    stuck: bool = False
    unreachable: Unreachable | None = None
    unreachable_at: float = math.inf  # simulated time when the unreachable failure shows
    deleting: bool = False
    removed: bool = False
    launch: Launch | None = None  # the current launch's ground-truth record


@dataclass(slots=True)
class Operation:
    id: str
    kind: str  # "create" or "delete"
    run_command: RunCommand
    generation: int
    start_time: str
    end_time: str | None = None


def fingerprint(
    location: str, tags: Mapping[str, str] | None, properties: Mapping[str, Any]
) -> str:
    """Identity of a request for "identical PUT" detection (includes secrets, so only a digest)."""
    del tags  # tags alone do not make a command different
    blob = json.dumps({"location": location.lower(), "properties": properties}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class FleetState:
    def __init__(
        self,
        machines: Iterable[SimMachine],
        *,
        agent: AgentLike,
        clock: SimClock,
        faults: FaultInjector,
        stats: SimStats,
        behaviour: Behaviour,
        rerun_identical_put: bool,
    ) -> None:
        self.agent = agent
        self.clock = clock
        self.faults = faults
        self.stats = stats
        self.behaviour = behaviour
        self.rerun_identical_put = rerun_identical_put
        self.machines: dict[str, SimMachine] = {}
        self.by_subscription: dict[str, list[SimMachine]] = {}
        self.subscriptions: dict[str, str] = {}  # lower -> as spelled
        self._disconnect_at: dict[str, float] = {}
        for m in sorted(machines, key=lambda m: m.key):
            self.machines[m.key] = m
            self.by_subscription.setdefault(m.subscription_id.lower(), []).append(m)
            self.subscriptions[m.subscription_id.lower()] = m.subscription_id
            at = faults.disconnect_at(m.key)
            if at is not None and m.status == "Connected":
                self._disconnect_at[m.key] = at
        self.run_commands: dict[str, dict[str, RunCommand]] = {}
        self.operations: dict[str, Operation] = {}
        self._op_counter = 0
        self._started_wall = datetime.now(UTC)
        self._tasks: set[asyncio.Task[None]] = set()
        self.launches: list[Launch] = []  # ground truth for /_sim/truth (fleet_sim.truth)

    # ---- machines ---------------------------------------------------------------------------

    def machine(self, subscription: str, resource_group: str, name: str) -> SimMachine | None:
        key = f"/subscriptions/{subscription}/resourcegroups/{resource_group}/providers/microsoft.hybridcompute/machines/{name}"
        return self.machines.get(key.lower())

    def status(self, m: SimMachine, *, lag_s: float = 0.0) -> tuple[str, str]:
        """(status, lastStatusChange) now, after any disconnect fault; with ``lag_s``, as it was
        that many simulated seconds ago (Resource Graph's view lags ARM's)."""
        at = self._disconnect_at.get(m.key)
        if at is not None and self.clock.now() - lag_s >= at:
            changed = self._started_wall + timedelta(seconds=at * self.clock.time_scale)
            return "Disconnected", changed.isoformat().replace("+00:00", "Z")
        return m.status, m.last_status_change

    def current(self) -> list[SimMachine]:
        return [replace(m, status=self.status(m)[0]) for m in self.machines.values()]

    def unreachable_reason(self, m: SimMachine) -> Unreachable | None:
        status, _ = self.status(m)
        if status != "Connected":
            return Unreachable(
                "MachineNotConnected",
                f"The machine '{m.name}' is {status}; run commands need a Connected agent.",
            )
        if version_tuple(m.agent_version) < version_tuple(self.behaviour.min_agent_version):
            return Unreachable(
                "AgentVersionNotSupported",
                f"The Connected Machine agent of '{m.name}' is {m.agent_version}; run commands "
                f"need {self.behaviour.min_agent_version} or newer.",
            )
        return None

    # ---- run commands -----------------------------------------------------------------------

    def get(self, m: SimMachine, name: str) -> RunCommand | None:
        rc = self.run_commands.get(m.key, {}).get(name.lower())
        return None if rc is None or rc.removed else rc

    def list_run_commands(self, m: SimMachine) -> list[RunCommand]:
        return [rc for rc in self.run_commands.get(m.key, {}).values() if not rc.removed]

    def put(
        self,
        m: SimMachine,
        name: str,
        *,
        location: str,
        tags: Mapping[str, str] | None,
        properties: dict[str, Any],
        password: str | None,
    ) -> tuple[int, RunCommand, Operation | None]:
        """Create or update. Returns (201 | 200, resource, operation or None when nothing ran)."""
        full = {**properties, "runAsPassword": password} if password is not None else properties
        digest = fingerprint(location, tags, full)
        existing = self.get(m, name)
        if existing is not None:
            if tags is not None:
                existing.tags = dict(tags)
            if digest == existing.fingerprint and not self.rerun_identical_put:
                return 200, existing, None
            existing.location, existing.properties = location, properties
            existing.password, existing.fingerprint = password, digest
            return 200, existing, self._launch(existing)
        rc = RunCommand(
            machine=m,
            name=name,
            location=location,
            tags=dict(tags) if tags is not None else None,
            properties=properties,
            password=password,
            fingerprint=digest,
        )
        self.run_commands.setdefault(m.key, {})[name.lower()] = rc
        return 201, rc, self._launch(rc)

    def note_answer(self, rc: RunCommand, view: Mapping[str, Any]) -> None:
        """An answer about ``rc`` is going out with ``view``: record, for the ground truth,
        whether it told the client the execution had ended (before anyone asked to stop it)."""
        launch = rc.launch
        if (
            launch is not None
            and not rc.deleting
            and launch.marks.stop_requested_at is None
            and view.get("executionState") in TERMINAL_EXECUTION
        ):
            launch.marks.end_reported = True

    def _stop_requested(self, rc: RunCommand) -> None:
        if rc.launch is not None and rc.launch.marks.stop_requested_at is None:
            rc.launch.marks.stop_requested_at = iso_now()

    def delete(self, rc: RunCommand) -> Operation:
        self._stop_requested(rc)
        rc.deleting = True
        execution = rc.execution
        op = self._operation("delete", rc)
        if execution is not None and not execution.finished.is_set():
            self.stats.cancels += 1
            execution.cancel()
            self._spawn(self._remove_after(rc, execution))
        else:
            self._remove(rc)
        return op

    def _remove(self, rc: RunCommand) -> None:
        rc.removed = True
        table = self.run_commands.get(rc.machine.key, {})
        if table.get(rc.name.lower()) is rc:
            del table[rc.name.lower()]

    async def _remove_after(self, rc: RunCommand, execution: Execution) -> None:
        await execution.finished.wait()
        self._remove(rc)

    def _launch(self, rc: RunCommand) -> Operation:
        self._stop_requested(rc)  # a changed PUT/PATCH stops the previous execution
        previous = rc.execution
        if previous is not None and not previous.finished.is_set():
            self.stats.cancels += 1
            previous.cancel()
        rc.generation += 1
        rc.execution, rc.stuck, rc.unreachable, rc.unreachable_at = None, False, None, math.inf
        op = self._operation("create", rc)
        reason = self.unreachable_reason(rc.machine)
        if reason is not None:
            self.stats.unreachable += 1
            rc.launch = self._launch_record(rc, "unreachable", reason=reason.code)
            self.launches.append(rc.launch)
            rc.unreachable = reason
            if self.behaviour.unreachable == "fail":
                rc.unreachable_at = self.clock.now() + self.behaviour.unreachable_after_s
            return op
        if self.faults.stuck():
            self.stats.stuck += 1
            rc.launch = self._launch_record(rc, "stuck")
            self.launches.append(rc.launch)
            rc.stuck = True
            return op
        execution = self.agent.start(self._request(rc))
        rc.execution = execution
        self.stats.executions[rc.machine.resource_id] += 1
        rc.launch = self._launch_record(rc, "executed", execution=execution)
        self.launches.append(rc.launch)
        self._spawn(self._watch(execution))
        return op

    @staticmethod
    def _launch_record(
        rc: RunCommand, kind: str, *, execution: Execution | None = None, reason: str | None = None
    ) -> Launch:
        m = rc.machine
        return Launch(m.resource_id, m.name, rc.name, kind, execution, reason)

    def _request(self, rc: RunCommand) -> ExecutionRequest:
        p = rc.properties
        source = p.get("source") or {}
        m = rc.machine
        return ExecutionRequest(
            machine_id=m.resource_id,
            machine_name=m.name,
            os_type=m.os_type,
            tags=dict(m.tags),
            script=source.get("script"),
            script_uri=source.get("scriptUri"),
            command_id=source.get("commandId"),
            parameters=tuple((x["name"], x["value"]) for x in p.get("parameters") or ()),
            protected_parameters=tuple(
                (x["name"], x["value"]) for x in p.get("protectedParameters") or ()
            ),
            run_as_user=p.get("runAsUser"),
            run_as_password=rc.password,
            timeout_s=p.get("timeoutInSeconds"),
            output_blob_uri=p.get("outputBlobUri"),
            error_blob_uri=p.get("errorBlobUri"),
        )

    async def _watch(self, execution: Execution) -> None:
        await execution.finished.wait()
        if execution.instance_view().get("executionState") == "TimedOut":
            self.stats.timeouts += 1

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- derived states ---------------------------------------------------------------------

    def instance_view(self, rc: RunCommand) -> dict[str, Any]:
        if rc.execution is not None:
            return rc.execution.instance_view()
        if rc.unreachable is not None and self.clock.now() >= rc.unreachable_at:
            return {
                "executionState": "Unknown",
                "executionMessage": rc.unreachable.message,
                "output": "",
                "error": "",
            }
        return {"executionState": "Pending", "executionMessage": "", "output": "", "error": ""}

    def provisioning_state(self, rc: RunCommand) -> str:
        if rc.deleting:
            return "Deleting"
        if rc.unreachable is not None:
            return "Failed" if self.clock.now() >= rc.unreachable_at else "Creating"
        execution = rc.execution
        if execution is None:  # stuck: the agent never picks it up
            return "Creating"
        state = execution.instance_view().get("executionState", "Unknown")
        if state == "Canceled":
            return "Canceled"
        if rc.properties.get("asyncExecution") is True:
            return "Succeeded" if execution.started.is_set() else "Creating"
        if not execution.finished.is_set():
            return "Creating"
        if state in ("Failed", "TimedOut") and self.behaviour.script_failure_fails_provisioning:
            return "Failed"
        return "Succeeded"

    def _operation(self, kind: str, rc: RunCommand) -> Operation:
        self._op_counter += 1
        digest = hashlib.sha256(
            f"{rc.machine.key}/{rc.name}/{self._op_counter}".encode()
        ).hexdigest()
        op_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        op = Operation(
            id=op_id, kind=kind, run_command=rc, generation=rc.generation, start_time=iso_now()
        )
        self.operations[op_id] = op
        return op

    def operation_status(self, op: Operation) -> tuple[str, dict[str, Any] | None]:
        """(InProgress | Succeeded | Failed | Canceled, error or None)."""
        rc = op.run_command
        if op.kind == "delete":
            return ("Succeeded", None) if rc.removed else ("InProgress", None)
        if rc.generation != op.generation or rc.removed:
            return "Canceled", {
                "code": "OperationCanceled",
                "message": "The run command was replaced or deleted.",
            }
        state = self.provisioning_state(rc)
        if state == "Succeeded":
            return "Succeeded", None
        if state == "Canceled":
            return "Canceled", {
                "code": "OperationCanceled",
                "message": "The run command execution was canceled.",
            }
        if state == "Failed":
            if rc.unreachable is not None:
                return "Failed", {"code": rc.unreachable.code, "message": rc.unreachable.message}
            view = self.instance_view(rc)
            return "Failed", {
                "code": "RunCommandFailed",
                "message": f"The script ended {view.get('executionState')} with exit code {view.get('exitCode')}.",
            }
        return "InProgress", None

    def operation_json(self, op: Operation) -> dict[str, Any]:
        status, error = self.operation_status(op)
        if status != "InProgress" and op.end_time is None:
            op.end_time = iso_now()
        body: dict[str, Any] = {
            "id": op.id,
            "name": op.id,
            "status": status,
            "startTime": op.start_time,
        }
        if op.end_time is not None:
            body["endTime"] = op.end_time
        if error is not None:
            body["error"] = error
        return body
