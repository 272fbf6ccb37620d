"""The inventory as values: hosts (Arc machines with resolved variables) and groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.inventory.patterns import select_hosts
from fleet.types import MachineRef

__all__ = ["Group", "Host", "Inventory", "Origin"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a host's Azure facts came from: which source listed it, when (ISO 8601 UTC; the
    time of the cached listing when ``from_cache``), and the status the source reported (Resource
    Graph can lag ARM: preflight re-reads the status before dispatch)."""

    source: str  # "arm:SUB[/RG]" or "resource-graph:DIGEST"
    snapshot_at: str
    status: str | None = None
    agent_version: str | None = None
    from_cache: bool = False


@dataclass(frozen=True, slots=True)
class Host:
    """One Arc machine. ``vars`` are resolved with Ansible's precedence (fleet.inventory.resolve);
    ``groups`` are every group the host belongs to, directly or through a child group, without
    ``all``; ``tags`` are the Azure tags (the host variable ``tags``), values as strings."""

    name: str
    machine: MachineRef
    vars: Mapping[str, Any]
    groups: tuple[str, ...]
    tags: Mapping[str, str]
    source: str = ""  # "file:line" where the host was declared, for messages
    origin: Origin | None = None  # None: only the static file knows this host


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    hosts: tuple[str, ...]  # direct members, in file order
    children: tuple[str, ...]
    parents: tuple[str, ...]
    depth: int  # all = 0, its children 1, ... (the longest path from all, as in Ansible)
    priority: int = 1  # ansible_group_priority (default 1): orders groups of the same depth


@dataclass(frozen=True, slots=True)
class Inventory:
    """Hosts in file order and groups by name. ``select`` takes Ansible-style patterns."""

    path: str
    hosts: tuple[Host, ...]
    groups: Mapping[str, Group] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # e.g. machines a source found but could not use

    def host(self, name: str) -> Host | None:
        for host in self.hosts:
            if host.name == name:
                return host
        return None

    def group_members(self, name: str) -> frozenset[str]:
        """Names of hosts in ``name`` or any of its descendants."""
        members: set[str] = set()
        pending = [name]
        seen: set[str] = set()
        while pending:
            current = pending.pop()
            if current in seen or current not in self.groups:
                continue
            seen.add(current)
            group = self.groups[current]
            members.update(group.hosts)
            pending.extend(group.children)
        return frozenset(members)

    def group_hosts_in_order(self, name: str) -> list[str]:
        """Hosts of ``name`` in Ansible's order for subscripts (``web[0]``): the group's own
        hosts as written, then its children's, breadth first (children in written order)."""
        out: list[str] = []
        seen_groups = {name}
        level = [name]
        order = [name, *self.groups[name].children]
        while level:
            following: list[str] = []
            for current in level:
                for child in self.groups[current].children:
                    if child not in seen_groups:
                        seen_groups.add(child)
                        following.append(child)
                        if child not in order:
                            order.append(child)
            level = following
        seen_hosts: set[str] = set()
        for group in order:
            for host in self.groups[group].hosts:
                if host not in seen_hosts:
                    seen_hosts.add(host)
                    out.append(host)
        return out

    def select(self, pattern: str) -> list[Host]:
        """Hosts matching ``pattern`` in inventory order; raises SelectionError on no match."""
        return select_hosts(self, pattern)
