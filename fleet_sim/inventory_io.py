"""Read and write the subset of fleet's inventory format the simulator needs.

Reads the Ansible YAML shape (``all.hosts``, nested ``children.*.hosts``, ``vars`` inherited from
groups, host keys that may be full ARM resource ids) and a plain list of machine mappings.
Writes the simulated fleet in the Ansible shape, grouped by OS, location and tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import InventoryError
from fleet_sim.fleetgen import CURRENT_AGENT_VERSION, SimMachine
from fleet_sim.yamlsrc import KeyPath, Located, load_located

__all__ = ["inventory_document", "read_inventory", "write_inventory"]

_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.HybridCompute/machines/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
_GROUP_SAFE = re.compile(r"[^A-Za-z0-9_]")


class _Collector:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.order: list[str] = []
        self.group_vars: dict[str, dict[str, Any]] = {}
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.where: dict[str, KeyPath] = {}

    def error(self, path: KeyPath, message: str) -> InventoryError:
        dotted = ".".join(str(p) for p in path) or None
        return InventoryError(
            message, file=self.located.source, line=self.located.line(path), field=dotted
        )

    def group(self, name: str, body: Any, inherited: Mapping[str, Any], path: KeyPath) -> None:
        if body is None:
            return
        if not isinstance(body, Mapping):
            raise self.error(path, f"group {name!r} must be a mapping with hosts, vars or children")
        own = body.get("vars") or {}
        if not isinstance(own, Mapping):
            raise self.error((*path, "vars"), "must be a mapping")
        layered = {**inherited, **own}
        hosts = body.get("hosts") or {}
        if not isinstance(hosts, Mapping):
            raise self.error((*path, "hosts"), "must be a mapping of host name to host variables")
        for host, hvars in hosts.items():
            key = str(host)
            if hvars is not None and not isinstance(hvars, Mapping):
                raise self.error((*path, "hosts", key), "host variables must be a mapping")
            if key not in self.host_vars:
                self.order.append(key)
                self.host_vars[key] = {}
                self.group_vars[key] = {}
                self.where[key] = (*path, "hosts", key)
            self.group_vars[key].update(layered)
            self.host_vars[key].update(hvars or {})
        children = body.get("children") or {}
        if not isinstance(children, Mapping):
            raise self.error((*path, "children"), "must be a mapping of group name to group")
        for child, child_body in children.items():
            self.group(str(child), child_body, layered, (*path, "children", str(child)))


def _machine(c: _Collector, key: str, values: Mapping[str, Any], path: KeyPath) -> SimMachine:
    match = _RESOURCE_ID.match(key)
    name = match["name"] if match else str(values.get("name", key))
    # A resource id as the key says exactly where the machine is: it beats inherited vars.
    sub = match["sub"] if match else values.get("subscription_id")
    rg = match["rg"] if match else values.get("resource_group")
    for field_name, value in (("subscription_id", sub), ("resource_group", rg)):
        if not value:
            raise c.error(
                path,
                f"host {name!r} has no {field_name} (set it on the host, a group's vars, or use a resource id)",
            )
    tags = values.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise c.error((*path, "tags"), "must be a mapping of tag name to value")
    os_type = str(values.get("os_type") or "linux").lower()
    if os_type not in ("linux", "windows"):
        raise c.error((*path, "os_type"), "must be linux or windows")
    return SimMachine(
        name=name,
        subscription_id=str(sub),
        resource_group=str(rg),
        location=str(values.get("location") or "eastus"),
        os_type=os_type,
        tags={str(k): str(v) for k, v in tags.items()},
        status=str(values.get("status") or "Connected"),
        agent_version=str(values.get("agent_version") or CURRENT_AGENT_VERSION),
    )


def read_inventory(path: Path) -> list[SimMachine]:
    """The machines of an inventory file (Ansible YAML shape, or a plain list); a machine that is
    listed twice appears once. Bad input raises ``InventoryError`` naming file, line and field."""
    try:
        located = load_located(path)
    except OSError as error:
        raise InventoryError(f"cannot read inventory: {error.strerror}", file=str(path)) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise InventoryError(
            "not valid YAML", file=str(path), line=mark.line + 1 if mark else None
        ) from error
    c = _Collector(located)
    data = located.data
    machines: list[SimMachine] = []
    if isinstance(data, list):
        for index, item in enumerate(data):
            if not isinstance(item, Mapping) or "name" not in item:
                raise c.error((index,), "each machine must be a mapping with at least name")
            machines.append(_machine(c, str(item["name"]), item, (index,)))
    elif isinstance(data, Mapping):
        for group, body in data.items():
            c.group(str(group), body, {}, (str(group),))
        for key in c.order:
            values = {**c.group_vars[key], **c.host_vars[key]}
            machines.append(_machine(c, key, values, c.where[key]))
    else:
        raise c.error((), "an inventory is a mapping of groups (all: ...) or a list of machines")
    unique: dict[str, SimMachine] = {}
    for machine in machines:
        unique.setdefault(machine.key, machine)
    return list(unique.values())


def _group(name: str) -> str:
    return _GROUP_SAFE.sub("_", name).lower()


def inventory_document(machines: Iterable[SimMachine]) -> dict[str, Any]:
    """The Ansible-shaped inventory of ``machines``."""
    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for m in machines:
        hosts[m.name] = {
            "subscription_id": m.subscription_id,
            "resource_group": m.resource_group,
            "location": m.location,
            "os_type": m.os_type,
            "tags": dict(m.tags),
        }
        # ``windows``/``linux`` too: the shipped playbooks target those groups.
        names = [m.os_type, f"os_{m.os_type}", f"location_{m.location}"]
        names += [f"{k}_{v}" for k, v in sorted(m.tags.items())]
        for group in names:
            groups.setdefault(_group(group), {})[m.name] = {}
    children = {name: {"hosts": members} for name, members in sorted(groups.items())}
    return {"all": {"hosts": hosts, "children": children}}


def write_inventory(machines: Iterable[SimMachine], path: Path) -> None:
    # libyaml's emitter when PyYAML has it: the same text, ~3.5 x less CPU (10,000 machines
    # cost the benchmark's simulator seconds of start-up with the pure-Python one).
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(
        inventory_document(machines), Dumper=dumper, sort_keys=False, default_flow_style=None
    )
    path.write_text(text, encoding="utf-8")
