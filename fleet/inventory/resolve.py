"""Drafts -> Inventory: groups reconciled and variables merged as ansible-core does.

Reconcile (Ansible's ``InventoryData.reconcile_inventory``): a group below no other group is a
child of ``all``; a host in no group but ``all`` is in ``ungrouped``, and a host written under
``ungrouped`` that is also in another group is taken out of it.

Variable precedence, lowest first (each level replaces whole top-level keys, Ansible's default
``hash_behaviour``; Ansible's ``VARIABLE_PRECEDENCE``):

1. ``all``'s inline vars
2. every other group's inline vars, groups sorted by depth, then ``ansible_group_priority``,
   then name
3. ``group_vars/all``
4. the other ``group_vars/`` files, in the same group order
5. (fleet) what an Azure source says about the machine
6. the host's inline vars (the last value written wins)
7. ``host_vars/<host>``

Then ``--defaults FILE`` fills only what is still missing (``fleet.inventory.defaults``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fleet.inventory.defaults import Defaults
from fleet.inventory.drafts import RESOURCE_ID, Drafts, HostDraft
from fleet.inventory.model import Group, Host, Inventory, Origin
from fleet.inventory.sources.merge import azure_vars
from fleet.inventory.varsfiles import VarsFiles
from fleet.types import MachineRef
from fleet.yamlsrc import describe

__all__ = ["OS_TYPES", "reconcile", "resolve"]

OS_TYPES = ("linux", "windows")


def reconcile(d: Drafts) -> dict[str, int]:
    """Roots under ``all``, ``ungrouped`` as Ansible keeps it; returns each group's depth."""
    for name in list(d.groups):
        if name != "all" and not d.groups[name].parents:
            d.add_child("all", name, d.groups[name].line, name)
    depths = _depths(d)
    direct = _direct_groups(d)
    ungrouped = d.groups["ungrouped"]
    for host in d.hosts:
        mine = _ancestors(d, direct.get(host, ()))
        if "ungrouped" in mine:
            if mine - {"all", "ungrouped"} and host in ungrouped.hosts:
                ungrouped.hosts.remove(host)
        elif mine <= {"all"}:
            ungrouped.hosts.append(host)
    return depths


def _direct_groups(d: Drafts) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}  # host -> its groups, in group order (one pass)
    for group in d.groups.values():
        for member in group.hosts:
            out.setdefault(member, []).append(group.name)
    return out


def _depths(d: Drafts) -> dict[str, int]:
    """Longest path from ``all`` (all = 0), as Ansible's Group.depth."""
    depths: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(name: str) -> int:
        if name in depths:
            return depths[name]
        if name in visiting:
            raise d.error(f"group {name!r} is its own ancestor", d.groups[name].line,
                          f"children.{name}")
        visiting.add(name)
        parents = d.groups[name].parents
        value = 0 if name == "all" else 1 + max((depth(p) for p in parents), default=0)
        visiting.discard(name)
        depths[name] = value
        return value

    for name in d.groups:
        depth(name)
    return depths


def _ancestors(d: Drafts, groups: Iterable[str]) -> set[str]:
    found: set[str] = set()
    pending = list(groups)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending.extend(d.groups[name].parents)
    return found


def resolve(d: Drafts, vars_files: VarsFiles, *, from_azure: bool,
            defaults: Defaults | None = None, notes: Iterable[str] = ()) -> Inventory:
    """The Inventory of ``d`` (``reconcile`` first). ``defaults`` fills the keys fleet needs
    that the inventory does not give (``--defaults FILE``)."""
    for name in d.hosts:
        if name in d.groups:
            raise d.error(f"{name!r} is both a host and a group; patterns would be "
                          "ambiguous", d.hosts[name].line, f"hosts.{name}")
    depths = reconcile(d)
    direct = _direct_groups(d)
    hosts: list[Host] = []
    seen_ids: dict[str, str] = {}
    for host in d.hosts.values():
        mine = _ancestors(d, direct.get(host.name, ())) - {"all"}
        ordered = sorted(mine, key=lambda g: (depths[g], d.groups[g].priority, g))
        values: dict[str, Any] = dict(d.groups["all"].vars)
        for group_name in ordered:
            values.update(d.groups[group_name].vars)
        values.update(vars_files.get("group_vars", "all"))
        for group_name in ordered:
            values.update(vars_files.get("group_vars", group_name))
        if host.found is not None:
            values.update(azure_vars(host.found))
        values.update(host.vars)
        values.update(vars_files.get("host_vars", host.name))
        if defaults is not None:
            defaults.fill(values, ordered)
        if host.found is None and from_azure and not values.get("subscription_id") \
                and host.resource_id is None and not values.get("resource_id"):
            raise d.error(f"machine {host.name!r} is in the file but no source found it, "
                          "and the file does not give its subscription_id", host.line,
                          f"hosts.{host.name}", hint="check the name against Azure, or "
                          "give subscription_id, resource_group, location and os_type")
        machine = _machine(d, host, values)
        previous = seen_ids.setdefault(machine.key, host.name)
        if previous != host.name:
            raise d.error(f"machines {previous!r} and {host.name!r} are the same resource",
                          host.line, f"hosts.{host.name}")
        origin = None
        if host.found is not None:
            found = host.found
            origin = Origin(found.source, found.snapshot_at, found.status, found.agent_version,
                            found.from_cache)
        hosts.append(Host(name=host.name, machine=machine, vars=values, groups=tuple(ordered),
                          tags=_tags(d, host, values),
                          source=f"{d.file}:{host.line}" if host.line else _found_source(host),
                          origin=origin))
    groups_out = {
        name: Group(name=name, hosts=tuple(g.hosts), children=tuple(g.children),
                    parents=tuple(g.parents), depth=depths[name], priority=g.priority)
        for name, g in d.groups.items()
    }
    return Inventory(path=d.file, hosts=tuple(hosts), groups=groups_out, notes=tuple(notes))


def _found_source(host: HostDraft) -> str:
    return host.found.source if host.found is not None else ""


def _require(d: Drafts, host: HostDraft, values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    where = f"hosts.{host.name}.{key}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise d.error(f"machine {host.name!r} has no {key} (set it on the host, a group "
                      "or all.vars, or give --defaults FILE)", host.line, where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise d.error(f"{key} must be a string, got {describe(value)}", host.line, where)
    return str(value).strip()


def _machine(d: Drafts, host: HostDraft, values: dict[str, Any]) -> MachineRef:
    if host.resource_id is None and isinstance(values.get("resource_id"), str):
        match = RESOURCE_ID.match(values["resource_id"])
        if match is None or match.group(3) != host.name:
            raise d.error(f"resource_id {values['resource_id']!r} is not the Arc machine "
                          f"resource id of {host.name!r}", host.line,
                          f"hosts.{host.name}.resource_id")
        host.resource_id = (match.group(1), match.group(2), match.group(3))
    if host.resource_id is not None:
        values["subscription_id"], values["resource_group"] = host.resource_id[:2]
    os_type = _require(d, host, values, "os_type").lower()
    if os_type not in OS_TYPES:
        raise d.error(f"os_type must be windows or linux, got {values['os_type']!r}",
                      host.line, f"hosts.{host.name}.os_type")
    values["os_type"] = os_type
    subscription_id = _require(d, host, values, "subscription_id")
    resource_group = _require(d, host, values, "resource_group")
    _check_arm_names(d, host, subscription_id, resource_group)
    return MachineRef(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=host.resource_id[2] if host.resource_id is not None else host.name,
        location=_require(d, host, values, "location"),
        os_type=os_type,
    )


# ARM's rules, checked up front: requests are URL-encoded anyway, but "../..", "x?y=1" or "r g"
# is never a real subscription or resource group, only a request to the wrong place.
_SUBSCRIPTION = re.compile(r"[A-Za-z0-9-]{1,64}")
_RESOURCE_GROUP = re.compile(r"[\w().-]{1,90}")


def _check_arm_names(d: Drafts, host: HostDraft, subscription_id: str,
                     resource_group: str) -> None:
    if not _SUBSCRIPTION.fullmatch(subscription_id):
        raise d.error("subscription_id is not a subscription id (a GUID: letters, digits and "
                      "'-')", host.line, f"hosts.{host.name}.subscription_id")
    if not _RESOURCE_GROUP.fullmatch(resource_group) or resource_group.endswith("."):
        raise d.error("resource_group breaks ARM's rules (1-90 letters, digits, '_', '-', '.', "
                      "'(' or ')', not ending in '.')", host.line,
                      f"hosts.{host.name}.resource_group")


def _tags(d: Drafts, host: HostDraft, values: Mapping[str, Any]) -> dict[str, str]:
    tags = values.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise d.error(f"tags must be a mapping of tag names to values, got {describe(tags)}",
                      host.line, f"hosts.{host.name}.tags")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if isinstance(value, (dict, list)):
            raise d.error(f"tag {key!r} must be a plain value", host.line,
                          f"hosts.{host.name}.tags.{key}")
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        out[str(key)] = text
    return out
