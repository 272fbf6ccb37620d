"""Read an Ansible-shaped YAML inventory (plus ``group_vars/`` and ``host_vars/``) into values.

Variable precedence, lowest first (each level replaces whole top-level keys, as Ansible does):
``all`` vars < parent group < child group (deeper groups win; same depth: by group name) <
host vars written in the inventory < ``host_vars/<host>.yaml``. A group's ``group_vars/<group>``
file overrides the vars written inline for that group. Inventory values are data, never
templates: a ``{{`` in a tag stays two braces.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import InventoryError
from fleet.inventory.model import Group, Host, Inventory, Origin
from fleet.inventory.sources.merge import add_discovered, azure_vars
from fleet.inventory.sources.model import DEFAULT_KEYED_GROUPS, Discovered, KeyedGroup
from fleet.inventory.sources.parse import parse_sources
from fleet.types import MachineRef
from fleet.yamlsrc import YMap, describe, line_of, load_yaml

__all__ = ["RESERVED_VARS", "build_inventory", "load_inventory", "plain", "read_sources"]

GROUP_KEYS = ("children", "hosts", "vars")
HOST_NAME = re.compile(r"^[A-Za-z0-9._-]{1,54}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESOURCE_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.HybridCompute/machines/([^/]+)/?$",
    re.IGNORECASE,
)
OS_TYPES = ("linux", "windows")
# Names the template context owns; a variable with one of these names would be shadowed.
RESERVED_VARS = frozenset({"machine", "run", "wave", "secret", "steps", "vars"})
VARS_SUFFIXES = (".yaml", ".yml", ".json")


def plain(value: Any) -> Any:
    """YMap/YList -> dict/list, recursively (values handed to templates and JSON)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@dataclass(slots=True)
class _GroupDraft:
    name: str
    line: int
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _HostDraft:
    name: str
    line: int
    vars: dict[str, Any] = field(default_factory=dict)
    resource_id: tuple[str, str, str] | None = None
    found: Discovered | None = None  # what an Azure source said about this machine


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.groups: dict[str, _GroupDraft] = {}
        self.hosts: dict[str, _HostDraft] = {}

    def error(self, message: str, line: int | None, field: str | None = None,
              hint: str | None = None) -> InventoryError:
        # line 0: a host only Azure knows about has no line in the file
        return InventoryError(message, file=self.file, line=line or None, field=field, hint=hint)

    def check_vars(self, values: Any, container: Any, key: Any, where: str) -> dict[str, Any]:
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise self.error(f"must be a mapping of variable names to values, got "
                             f"{describe(values)}", line_of(container, key), where)
        for name in values:
            self.check_var_name(name, line_of(values, name), f"{where}.{name}")
        return {str(name): plain(value) for name, value in values.items()}

    def check_var_name(self, name: Any, line: int | None, where: str) -> None:
        if not isinstance(name, str) or not VAR_NAME.match(name):
            raise self.error(f"variable name {name!r} is not an identifier "
                             "(letters, digits, underscore)", line, where)
        if name in RESERVED_VARS:
            raise self.error(f"{name!r} is reserved for the template context", line, where,
                             hint=f"reserved: {', '.join(sorted(RESERVED_VARS))}")

    def new_host(self, name: str, line: int) -> _HostDraft:
        host = self.hosts[name] = _HostDraft(name, line)
        return host

    def group(self, name: str, line: int) -> _GroupDraft:
        draft = self.groups.get(name)
        if draft is None:
            draft = self.groups[name] = _GroupDraft(name, line)
        return draft

    def read_group(self, name: Any, body: Any, container: Any, parent: str | None,
                   where: str) -> None:
        line = line_of(container, name) or 1
        if not isinstance(name, str) or not GROUP_NAME.match(name):
            raise self.error(f"invalid group name {name!r} (letters, digits, '_', '.', '-')",
                             line, where)
        group = self.group(name, line)
        if parent is not None:
            if name == "all":
                raise self.error("'all' cannot be a child group", line, where)
            if name not in self.groups[parent].children:
                self.groups[parent].children.append(name)
            if parent not in group.parents:
                group.parents.append(parent)
        if body is None:
            return
        if not isinstance(body, dict):
            raise self.error(f"a group must be a mapping with {', '.join(GROUP_KEYS)}, got "
                             f"{describe(body)}", line, where)
        for key in body:
            if key not in GROUP_KEYS:
                close = difflib.get_close_matches(str(key), GROUP_KEYS, n=1)
                raise self.error(f"unknown key {key!r}", line_of(body, key), f"{where}.{key}",
                                 hint=f"did you mean {close[0]!r}?" if close
                                 else f"a group has {', '.join(GROUP_KEYS)}")
        group.vars.update(self.check_vars(body.get("vars"), body, "vars", f"{where}.vars"))
        hosts = body.get("hosts")
        if hosts is not None:
            if not isinstance(hosts, dict):
                raise self.error("must be a mapping of host names to host variables (or "
                                 f"nothing), got {describe(hosts)}", line_of(body, "hosts"),
                                 f"{where}.hosts")
            for host_key, host_vars in hosts.items():
                self.read_host(host_key, host_vars, hosts, group, f"{where}.hosts")
        children = body.get("children")
        if children is not None:
            if not isinstance(children, dict):
                raise self.error(f"must be a mapping of group names, got {describe(children)}",
                                 line_of(body, "children"), f"{where}.children")
            for child, child_body in children.items():
                self.read_group(child, child_body, children, name, f"{where}.children.{child}")

    def read_host(self, key: Any, body: Any, container: Any, group: _GroupDraft,
                  where: str) -> None:
        line = line_of(container, key) or 1
        if not isinstance(key, str):
            raise self.error(f"host name must be a string, got {key!r}", line, where)
        resource_id = None
        name = key
        match = RESOURCE_ID.match(key)
        if match:
            resource_id = (match.group(1), match.group(2), match.group(3))
            name = match.group(3)
        elif key.startswith("/"):
            raise self.error(f"{key!r} is not an Arc machine resource id (/subscriptions/SUB/"
                             "resourceGroups/RG/providers/Microsoft.HybridCompute/machines/NAME)",
                             line, where)
        if not HOST_NAME.match(name):
            raise self.error(f"invalid machine name {name!r} (1-54 of letters, digits, "
                             "'.', '_', '-')", line, where)
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _HostDraft(name, line, resource_id=resource_id)
        elif resource_id and host.resource_id and resource_id != host.resource_id:
            raise self.error(f"machine {name!r} is declared twice with different resource ids",
                             line, where)
        elif resource_id:
            host.resource_id = resource_id
        if name not in group.hosts:
            group.hosts.append(name)
        host.vars.update(self.check_vars(body, container, key, f"{where}.{name}"))

    def vars_files(self, folder: str, name: str) -> Iterable[Path]:
        base = self.path.parent / folder
        for suffix in ("", *VARS_SUFFIXES):
            candidate = base / f"{name}{suffix}"
            # Anything there that is not a folder is read (and refused by safeio if it is a
            # FIFO, a device, a broken link or a link loop): variables are never dropped silently.
            if suffix == "" and candidate.is_dir():
                yield from sorted(p for p in candidate.iterdir()
                                  if p.suffix in VARS_SUFFIXES and not p.is_dir())
            elif os.path.lexists(candidate) and (suffix or not candidate.name.startswith(".")):
                yield candidate

    def read_vars_file(self, path: Path) -> dict[str, Any]:
        data = load_yaml(path, error=InventoryError)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise InventoryError(f"must be a mapping of variables, got {describe(data)}",
                                 file=str(path), line=line_of(data))
        out: dict[str, Any] = {}
        for key, value in data.items():
            line = line_of(data, key)
            if not isinstance(key, str) or not VAR_NAME.match(key) or key in RESERVED_VARS:
                raise InventoryError(f"bad variable name {key!r} (identifier, not one of "
                                     f"{', '.join(sorted(RESERVED_VARS))})",
                                     file=str(path), line=line, field=str(key))
            out[key] = plain(value)
        return out




def _depths(reader: _Reader) -> dict[str, int]:
    depths: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(name: str) -> int:
        if name in depths:
            return depths[name]
        if name in visiting:
            group = reader.groups[name]
            raise reader.error(f"group {name!r} is its own ancestor", group.line,
                               f"children.{name}")
        visiting.add(name)
        parents = reader.groups[name].parents
        value = 0 if name == "all" else 1 + max((depth(p) for p in parents), default=0)
        visiting.discard(name)
        depths[name] = value
        return value

    for name in reader.groups:
        depth(name)
    return depths


def _ancestors(reader: _Reader, groups: Iterable[str]) -> set[str]:
    found: set[str] = set()
    pending = list(groups)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending.extend(reader.groups[name].parents)
    return found


def _require(reader: _Reader, host: _HostDraft, values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    where = f"hosts.{host.name}.{key}"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise reader.error(f"machine {host.name!r} has no {key} (set it on the host, a group "
                           "or all.vars)", host.line, where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise reader.error(f"{key} must be a string, got {describe(value)}", host.line, where)
    return str(value).strip()


def _machine(reader: _Reader, host: _HostDraft, values: dict[str, Any]) -> MachineRef:
    if host.resource_id is None and isinstance(values.get("resource_id"), str):
        match = RESOURCE_ID.match(values["resource_id"])
        if match is None or match.group(3) != host.name:
            raise reader.error(f"resource_id {values['resource_id']!r} is not the Arc machine "
                               f"resource id of {host.name!r}", host.line,
                               f"hosts.{host.name}.resource_id")
        host.resource_id = (match.group(1), match.group(2), match.group(3))
    if host.resource_id is not None:
        values["subscription_id"], values["resource_group"] = host.resource_id[:2]
    os_type = _require(reader, host, values, "os_type").lower()
    if os_type not in OS_TYPES:
        raise reader.error(f"os_type must be windows or linux, got {values['os_type']!r}",
                           host.line, f"hosts.{host.name}.os_type")
    values["os_type"] = os_type
    return MachineRef(
        subscription_id=_require(reader, host, values, "subscription_id"),
        resource_group=_require(reader, host, values, "resource_group"),
        name=host.resource_id[2] if host.resource_id is not None else host.name,
        location=_require(reader, host, values, "location"),
        os_type=os_type,
    )


def _tags(reader: _Reader, host: _HostDraft, values: Mapping[str, Any]) -> dict[str, str]:
    tags = values.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise reader.error(f"tags must be a mapping of tag names to values, got {describe(tags)}",
                           host.line, f"hosts.{host.name}.tags")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if isinstance(value, (dict, list)):
            raise reader.error(f"tag {key!r} must be a plain value", host.line,
                               f"hosts.{host.name}.tags.{key}")
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        out[str(key)] = text
    return out


SOURCES_KEY = "sources"


def _document(path: Path, reader: _Reader) -> YMap:
    data = load_yaml(path, error=InventoryError)
    if data is None:
        raise reader.error("inventory is empty (expected 'all:' with hosts or children)", 1)
    if not isinstance(data, YMap):
        raise reader.error(f"top level must be a mapping of groups ('all:'), got {describe(data)}",
                           line_of(data) or 1)
    return data


def read_sources(path: Path) -> Any:
    """The file's ``sources:`` section as a ``SourcesConfig``, or None if it has none."""
    reader = _Reader(path)
    data = _document(path, reader)
    if SOURCES_KEY not in data:
        return None
    return parse_sources(data[SOURCES_KEY], file=reader.file, container=data)


def load_inventory(path: Path) -> Inventory:
    """Load ``path`` (and ``group_vars/``, ``host_vars/`` beside it). Raises InventoryError.

    Pure: a file with a ``sources:`` section needs Azure, so it is refused here; read it with
    ``fleet.inventory.load_inventory_with_sources``."""
    reader = _Reader(path)
    data = _document(path, reader)
    if SOURCES_KEY in data:
        raise reader.error("this inventory has a sources: section, which lists machines from "
                           "Azure; load it with load_inventory_with_sources (fleet inventory, "
                           "plan and run do)", data.line_of(SOURCES_KEY), SOURCES_KEY)
    return _build(reader, data, (), DEFAULT_KEYED_GROUPS)


def build_inventory(path: Path | None, *, discovered: Sequence[Discovered],
                    keyed_groups: Sequence[KeyedGroup] = DEFAULT_KEYED_GROUPS) -> Inventory:
    """The inventory of ``path`` (may be None: Azure only) merged with ``discovered`` machines.

    Merge by resource id (case-insensitive); a static host given by name only matches the one
    discovered machine of that name. Precedence, lowest first: group vars (keyed groups' too)
    < what Azure says (subscription_id, resource_group, location, os_type, tags, arc_status,
    arc_agent_version, arc_os_name) < host vars in the file < ``host_vars/<host>``.
    """
    if path is None:
        reader = _Reader(Path("<azure>"))
        data = YMap()
    else:
        reader = _Reader(path)
        data = _document(path, reader)
    return _build(reader, data, discovered, tuple(keyed_groups))


def _build(reader: _Reader, data: YMap, discovered: Sequence[Discovered],
           keyed: tuple[KeyedGroup, ...]) -> Inventory:
    reader.group("all", data.line_of("all") if "all" in data else 1)
    for name, body in data.items():
        if name == SOURCES_KEY:
            continue  # read by read_sources; load_inventory refuses it before getting here
        if name == "all":
            reader.read_group("all", body, data, None, "all")
        else:  # Ansible allows other top-level groups: they are children of all.
            reader.read_group(name, body, data, "all", str(name))
    notes = add_discovered(reader, discovered, keyed)
    from_azure = bool(discovered) or SOURCES_KEY in data
    if not reader.hosts:
        if SOURCES_KEY in data or reader.file == "<azure>":
            raise reader.error("the sources found no machines and the file lists none", None,
                               SOURCES_KEY, hint="check the subscriptions, resource groups "
                               "and query")
        raise reader.error("inventory has no hosts", 1, "all")
    for name in reader.hosts:
        if name in reader.groups:
            raise reader.error(f"{name!r} is both a host and a group; patterns would be "
                               "ambiguous", reader.hosts[name].line, f"hosts.{name}")
    depths = _depths(reader)
    for name, group in reader.groups.items():
        for vars_path in reader.vars_files("group_vars", name):
            group.vars.update(reader.read_vars_file(vars_path))

    hosts: list[Host] = []
    seen_ids: dict[str, str] = {}
    direct_groups: dict[str, list[str]] = {}  # host -> its groups, in group order (one pass)
    for group in reader.groups.values():
        for member in dict.fromkeys(group.hosts):
            direct_groups.setdefault(member, []).append(group.name)
    for host in reader.hosts.values():
        direct = direct_groups.get(host.name, [])
        member_of = _ancestors(reader, direct)
        ordered = sorted(member_of, key=lambda g: (depths[g], g))
        values: dict[str, Any] = {}
        for group_name in ordered:
            values.update(reader.groups[group_name].vars)
        if host.found is not None:
            values.update(azure_vars(host.found))
        values.update(host.vars)
        for vars_path in reader.vars_files("host_vars", host.name):
            values.update(reader.read_vars_file(vars_path))
        if host.found is None and from_azure and not values.get("subscription_id") \
                and host.resource_id is None:
            raise reader.error(f"machine {host.name!r} is in the file but no source found it, "
                               "and the file does not give its subscription_id", host.line,
                               f"hosts.{host.name}", hint="check the name against Azure, or "
                               "give subscription_id, resource_group, location and os_type")
        machine = _machine(reader, host, values)
        previous = seen_ids.setdefault(machine.key, host.name)
        if previous != host.name:
            raise reader.error(f"machines {previous!r} and {host.name!r} are the same resource",
                               host.line, f"hosts.{host.name}")
        groups = tuple(g for g in ordered if g != "all") or ("ungrouped",)
        origin = None
        if host.found is not None:
            found = host.found
            origin = Origin(found.source, found.snapshot_at, found.status, found.agent_version,
                            found.from_cache)
        hosts.append(Host(name=host.name, machine=machine, vars=values, groups=groups,
                          tags=_tags(reader, host, values),
                          source=f"{reader.file}:{host.line}" if host.line else found_source(host),
                          origin=origin))
    groups_out = {
        name: Group(name=name, hosts=tuple(g.hosts), children=tuple(g.children),
                    parents=tuple(g.parents), depth=depths[name])
        for name, g in reader.groups.items()
    }
    ungrouped = tuple(h.name for h in hosts if h.groups == ("ungrouped",))
    if "ungrouped" not in groups_out:
        groups_out["ungrouped"] = Group("ungrouped", ungrouped, (), ("all",), 1)
    return Inventory(path=reader.file, hosts=tuple(hosts), groups=groups_out, notes=tuple(notes))


def found_source(host: _HostDraft) -> str:
    return host.found.source if host.found is not None else ""
