"""The inventory while it is being read: groups and hosts in the order written, as Ansible's
``InventoryData`` keeps them. Every reader (YAML, INI, ``ansible-inventory --list`` JSON, the
Azure sources) fills one ``Drafts``; ``fleet.inventory.resolve`` turns it into an Inventory.

Names are checked here, once, whatever the format: machine names are ARM's (1-54 of letters,
digits, ``.``, ``_``, ``-``), variable names are identifiers and not the template context's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import InventoryError
from fleet.inventory.sources.model import Discovered
from fleet.yamlsrc import shown_key

__all__ = [
    "GROUP_NAME",
    "HOST_NAME",
    "RESERVED_VARS",
    "RESOURCE_ID",
    "VAR_NAME",
    "Drafts",
    "GroupDraft",
    "HostDraft",
    "plain",
]

HOST_NAME = re.compile(r"^[A-Za-z0-9._-]{1,54}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESOURCE_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.HybridCompute/machines/([^/]+)/?$",
    re.IGNORECASE,
)
# Names the template context owns; a variable with one of these names would be shadowed.
RESERVED_VARS = frozenset({"machine", "run", "wave", "secret", "steps", "vars"})
PRIORITY_VAR = "ansible_group_priority"  # sets the group's priority, is not a variable (as in Ansible)


def plain(value: Any) -> Any:
    """YMap/YList -> dict/list, recursively (values handed to templates and JSON)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class NameList(list[str]):
    """A list of names in the order written, with set-speed ``in``: a group of 10,000 hosts
    made every ``name not in group.hosts`` a scan (quadratic: 8 s of a 10,000-host plan).
    Only ``append`` and ``remove`` change it (what the readers use)."""

    __slots__ = ("_members",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        super().__init__(names)
        self._members = set(self)

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def append(self, name: str) -> None:
        super().append(name)
        self._members.add(name)

    def remove(self, name: str) -> None:
        super().remove(name)
        if not super().__contains__(name):
            self._members.discard(name)


@dataclass(slots=True)
class GroupDraft:
    name: str
    line: int
    hosts: NameList = field(default_factory=NameList)  # direct members, in the order written
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1  # ansible_group_priority (Ansible's default is 1)


@dataclass(slots=True)
class HostDraft:
    name: str
    line: int
    vars: dict[str, Any] = field(default_factory=dict)
    resource_id: tuple[str, str, str] | None = None
    found: Discovered | None = None  # what an Azure source said about this machine


class Drafts:
    """Groups and hosts in insertion order; ``all`` and ``ungrouped`` exist from the start,
    ``ungrouped`` a child of ``all`` (as in Ansible)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.groups: dict[str, GroupDraft] = {}
        self.hosts: dict[str, HostDraft] = {}
        self.group("all", 1)
        self.group("ungrouped", 1)
        self.add_child("all", "ungrouped", 1, "all")

    def error(self, message: str, line: int | None, field: str | None = None,
              hint: str | None = None) -> InventoryError:
        # line 0: a host only Azure knows about has no line in the file
        return InventoryError(message, file=self.file, line=line or None, field=field, hint=hint)

    def check_var_name(self, name: Any, line: int | None, where: str) -> str:
        if not isinstance(name, str) or not VAR_NAME.match(name):
            raise self.error(f"variable name {shown_key(name)} is not an identifier "
                             "(letters, digits, underscore)", line, where)
        if name in RESERVED_VARS:
            raise self.error(f"{name!r} is reserved for the template context", line, where,
                             hint=f"reserved: {', '.join(sorted(RESERVED_VARS))}")
        return name

    def group(self, name: str, line: int, where: str | None = None) -> GroupDraft:
        draft = self.groups.get(name)
        if draft is None:
            if not isinstance(name, str) or not GROUP_NAME.match(name):
                raise self.error(f"invalid group name {shown_key(name)} (letters, digits, '_', "
                                 "'.', '-')", line, where or shown_key(name).strip("'"))
            draft = self.groups[name] = GroupDraft(name, line)
        return draft

    def add_child(self, parent: str, child: str, line: int, where: str) -> None:
        if child == "all":
            raise self.error("'all' cannot be a child group", line, where)
        if child == parent:
            raise self.error(f"group {child!r} cannot be its own child", line, where)
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
        if parent not in self.groups[child].parents:
            self.groups[child].parents.append(parent)

    def set_group_var(self, group: GroupDraft, name: Any, value: Any, line: int | None,
                      where: str) -> None:
        if name == PRIORITY_VAR:
            try:
                group.priority = int(value)
            except (TypeError, ValueError):
                raise self.error(f"{PRIORITY_VAR} must be an integer, got {value!r}"[:200],
                                 line, where) from None
            return
        group.vars[self.check_var_name(name, line, where)] = plain(value)

    def set_host_var(self, host: HostDraft, name: Any, value: Any, line: int | None,
                     where: str) -> None:
        host.vars[self.check_var_name(name, line, where)] = plain(value)

    def new_host(self, name: str, line: int) -> HostDraft:
        host = self.hosts[name] = HostDraft(name, line)
        return host

    def add_host(self, key: Any, group: GroupDraft, line: int, where: str) -> HostDraft:
        """Add host ``key`` (a machine name or an Arc resource id) to ``group``."""
        if not isinstance(key, str):
            raise self.error(f"host name must be a string, got {shown_key(key)}", line, where)
        resource_id = None
        name = key
        match = RESOURCE_ID.match(key)
        if match:
            resource_id = (match.group(1), match.group(2), match.group(3))
            name = match.group(3)
        elif key.startswith("/"):
            raise self.error(f"{shown_key(key)} is not an Arc machine resource id (/subscriptions/SUB/"
                             "resourceGroups/RG/providers/Microsoft.HybridCompute/machines/NAME)",
                             line, where)
        if not HOST_NAME.match(name):
            raise self.error(f"invalid machine name {shown_key(name)} (1-54 of letters, digits, "
                             "'.', '_', '-')", line, where)
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostDraft(name, line, resource_id=resource_id)
        elif resource_id and host.resource_id and resource_id != host.resource_id:
            raise self.error(f"machine {name!r} is declared twice with different resource ids",
                             line, where)
        elif resource_id:
            host.resource_id = resource_id
        if name not in group.hosts:
            group.hosts.append(name)
        return host
