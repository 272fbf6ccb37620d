"""Frozen records parsed from ARM bodies, tolerant of JSON nulls and missing fields, and the
client's request statistics.

``RunCommandView`` deliberately keeps no raw body: a run command echoes its blob SAS URIs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.types import MachineRef

__all__ = [
    "ArmStats",
    "MachineInfo",
    "RunCommandView",
    "machine_from_json",
    "run_command_from_json",
]

_MACHINE_ID_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.HybridCompute/machines/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)

TERMINAL_PROVISIONING = frozenset({"succeeded", "failed", "canceled"})
TERMINAL_EXECUTION = frozenset({"succeeded", "failed", "timedout", "canceled"})


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


@dataclass(frozen=True, slots=True)
class MachineInfo:
    """An Arc machine as ARM describes it (the preflight fields, plus the whole body)."""

    ref: MachineRef
    status: str | None = None  # Connected | Disconnected | Error
    agent_version: str | None = None
    os_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    last_status_change: str | None = None
    extensions_enabled: bool | None = None  # agentConfiguration.extensionsEnabled
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RunCommandView:
    """A run command's state. ``provisioning_state`` says whether the platform could start it,
    ``execution_state``/``exit_code`` whether the script succeeded; instanceView may be absent."""

    name: str
    provisioning_state: str | None = None
    execution_state: str | None = None
    exit_code: int | None = None
    output: str | None = None
    error: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    execution_message: str | None = None

    @property
    def provisioning_terminal(self) -> bool:
        return (self.provisioning_state or "").lower() in TERMINAL_PROVISIONING

    @property
    def execution_terminal(self) -> bool:
        return (self.execution_state or "").lower() in TERMINAL_EXECUTION


def machine_from_json(body: Any, fallback: MachineRef | None = None) -> MachineInfo:
    """Parse a Machine body; ``fallback`` supplies what a partial body lacks."""
    data = _obj(body)
    props = _obj(data.get("properties"))
    match = _MACHINE_ID_RE.match(_str(data.get("id")) or "")
    sub = match.group("sub") if match else (fallback.subscription_id if fallback else "")
    rg = match.group("rg") if match else (fallback.resource_group if fallback else "")
    name = _str(data.get("name")) or (match.group("name") if match else None)
    name = name or (fallback.name if fallback else "")
    location = _str(data.get("location")) or (fallback.location if fallback else "")
    os_type = (_str(props.get("osType")) or "").lower() or (fallback.os_type if fallback else "")
    tags = {str(k): "" if v is None else str(v) for k, v in _obj(data.get("tags")).items()}
    return MachineInfo(
        ref=MachineRef(
            subscription_id=sub, resource_group=rg, name=name, location=location, os_type=os_type
        ),
        status=_str(props.get("status")),
        agent_version=_str(props.get("agentVersion")),
        os_name=_str(props.get("osName")),
        tags=tags,
        last_status_change=_str(props.get("lastStatusChange")),
        extensions_enabled=_bool(_obj(props.get("agentConfiguration")).get("extensionsEnabled")),
        raw=data,
    )


def run_command_from_json(body: Any, fallback_name: str = "") -> RunCommandView:
    data = _obj(body)
    props = _obj(data.get("properties"))
    view = _obj(props.get("instanceView"))
    return RunCommandView(
        name=_str(data.get("name")) or fallback_name,
        provisioning_state=_str(props.get("provisioningState")),
        execution_state=_str(view.get("executionState")),
        exit_code=_int(view.get("exitCode")),
        output=_str(view.get("output")),
        error=_str(view.get("error")),
        start_time=_str(view.get("startTime")),
        end_time=_str(view.get("endTime")),
        execution_message=_str(view.get("executionMessage")),
    )


@dataclass(frozen=True, slots=True)
class ArmStats:
    """What the client did. ``by_kind``: HTTP exchanges by kind (read/write/delete), retries
    included; ``by_status``: by HTTP status, ``transport`` for no answer; ``throttled``: 429s."""

    by_kind: Mapping[str, int] = field(default_factory=dict)
    by_status: Mapping[str, int] = field(default_factory=dict)
    throttled: int = 0
    retries: int = 0
    throttle_wait_s: float = 0.0  # time spent waiting for bucket tokens or 429 pauses
    # Tokens left in each bucket used (subscription -> kind -> tokens) when the stats were taken.
    tokens: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def as_report(self) -> dict[str, int]:
        """The ``arm_requests`` map of ``RunRecord``: read, write, delete, total."""
        out = {kind: int(self.by_kind.get(kind, 0)) for kind in ("read", "write", "delete")}
        out["total"] = self.total
        return out
