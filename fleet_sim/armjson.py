"""The JSON bodies the simulator answers with, shaped as the spec's definitions and examples:
``Machine``, ``MachineRunCommand``, ARM's ``ErrorResponse`` and the async-operation status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fleet_sim.fleetgen import OS_NAMES, SimMachine

__all__ = [
    "OUTPUT_TAIL_BYTES",
    "error_body",
    "iso_now",
    "machine_json",
    "run_command_id",
    "run_command_json",
    "strip_query",
    "tail_bytes",
]

OUTPUT_TAIL_BYTES = 4096


def iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def error_body(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    return {"error": error}


def tail_bytes(text: str, limit: int = OUTPUT_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``text`` in UTF-8, never splitting a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[-limit:].decode("utf-8", errors="ignore")


def strip_query(uri: str) -> str:
    """A blob URI without its query string: responses never carry a SAS signature."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def machine_json(m: SimMachine, *, status: str, last_status_change: str) -> dict[str, Any]:
    os_name, os_version = OS_NAMES.get(m.os_type, ("linux", ""))
    nulls = m.nulls
    optional_null = nulls in ("optional", "full")
    full_null = nulls == "full"
    allow: Any = None if optional_null else []
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "status": None if full_null else status,
        "lastStatusChange": None if full_null else last_status_change,
        "errorDetails": None if optional_null else [],
        "agentVersion": None if full_null else m.agent_version,
        "vmId": m.vm_id or None,
        "displayName": None if optional_null else m.name,
        "machineFqdn": None if optional_null else f"{m.name}.{m.location}.sim.internal",
        "osName": os_name,
        "osVersion": None if full_null else os_version,
        "osType": None if full_null else m.os_type,
        "osSku": None if optional_null else os_name,
        "osEdition": "Standard" if m.os_type == "windows" else None,
        "domainName": None,
        "detectedProperties": {
            "cloudprovider": "N/A",
            "manufacturer": "fleet-sim",
            "model": "Virtual Machine",
        },
        "agentConfiguration": {
            "proxyBypass": [],
            "incomingConnectionsPorts": [],
            "extensionsAllowList": allow,
            "extensionsBlockList": allow,
            "extensionsEnabled": "true",
            "guestConfigurationEnabled": "true",
            "configMode": "full",
        },
        "serviceStatuses": {
            "extensionService": {"status": "Running", "startupType": "Automatic"},
            "guestConfigurationService": {"status": "Running", "startupType": "Automatic"},
        },
    }
    body: dict[str, Any] = {
        "id": m.resource_id,
        "name": m.name,
        "type": "Microsoft.HybridCompute/machines",
        "location": m.location,
        "tags": None if full_null else dict(m.tags),
        "properties": properties,
    }
    if optional_null:
        body["kind"] = None  # as in the spec's Machines_ListBySubscription example
    return body


def run_command_id(machine: SimMachine, name: str) -> str:
    # The spec's examples spell it ".../Machines/{m}/runcommands/{name}"; we copy that quirk so
    # clients learn to compare resource ids case-insensitively, as ARM intends.
    return (
        f"/subscriptions/{machine.subscription_id}/resourceGroups/{machine.resource_group}"
        f"/providers/Microsoft.HybridCompute/Machines/{machine.name}/runcommands/{name}"
    )


def run_command_json(
    machine: SimMachine,
    name: str,
    *,
    location: str,
    tags: Mapping[str, str] | None,
    properties: Mapping[str, Any],
    provisioning_state: str,
    instance_view: Mapping[str, Any] | None,
) -> dict[str, Any]:
    props: dict[str, Any] = {k: v for k, v in properties.items() if k != "runAsPassword"}
    props["protectedParameters"] = []
    for key in ("outputBlobUri", "errorBlobUri"):
        if isinstance(props.get(key), str):
            props[key] = strip_query(props[key])
    source = props.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("scriptUri"), str):
        props["source"] = {**source, "scriptUri": strip_query(source["scriptUri"])}
    props["provisioningState"] = provisioning_state
    if instance_view is not None:
        view = dict(instance_view)
        for key in ("output", "error"):
            if isinstance(view.get(key), str):
                view[key] = tail_bytes(view[key])
        props["instanceView"] = view
    body: dict[str, Any] = {
        "id": run_command_id(machine, name),
        "name": name,
        "type": "Microsoft.HybridCompute/machines/runcommands",
        "location": location,
        "properties": props,
    }
    if tags is not None:
        body["tags"] = dict(tags)
    return body
