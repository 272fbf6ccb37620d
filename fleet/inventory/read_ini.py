"""Ansible's INI inventory -> Drafts, as ansible-core's ``ini`` plugin reads it.

    web-[01:03] location=eastus        # before any section: group ungrouped
    [web]                              # hosts, with host variables key=value
    web-01 tags="{'env': 'prod'}"
    [web:vars]                         # group variables, one key=value a line
    os_type=linux
    [servers:children]                 # child groups (may be defined further down)
    web

Values are Python literals when they parse as one (``1``, ``True``, ``[1, 2]``, ``{'a': 1}``,
``'quoted'``), else strings, as in Ansible. Group names are taken as written (Ansible's
default ``TRANSFORM_INVALID_GROUP_CHARS=never``). A ``:vars`` or ``:children`` section naming a group that is never defined is an error, as in
Ansible. Every error names the file and the line.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from fleet.inventory.drafts import Drafts
from fleet.inventory.ranges import expand_host_pattern, split_port

__all__ = ["MAX_LINE_CHARS", "read_ini"]

MAX_LINE_CHARS = 65_536
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


def parse_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal if it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _coerce(value)


def _coerce(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_coerce(item) for item in value]
    if isinstance(value, dict):
        return {_coerce(k): _coerce(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def read_ini(d: Drafts, text: str) -> None:
    pending: dict[str, dict[str, Any]] = {}
    group_name = "ungrouped"
    state = "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = f"[{group_name}]" if state == "hosts" else f"[{group_name}:{state}]"
        if len(line) > MAX_LINE_CHARS:
            raise d.error(f"line longer than {MAX_LINE_CHARS} characters", number, where)
        section = _SECTION.match(line)
        if section:
            group_name = section.group(1)  # kept as written (Ansible's default: 'never')
            state = section.group(2) or "hosts"
            where = f"[{section.group(1)}" + (f":{section.group(2)}]" if section.group(2) else "]")
            if state not in ("hosts", "children", "vars"):
                raise d.error(f"section {where} has unknown type {state!r}", number, where,
                              hint="use [NAME], [NAME:vars] or [NAME:children]")
            if group_name not in d.groups:
                if state == "vars" and group_name not in pending:
                    pending[group_name] = {"line": number, "state": state, "parents": []}
                d.group(group_name, number, where)
            if group_name in pending and state != "vars":
                if pending[group_name]["state"] == "children":
                    _add_pending_children(d, group_name, pending)
                elif pending[group_name]["state"] == "vars":
                    del pending[group_name]
            continue
        if line.startswith("[") and line.endswith("]"):
            raise d.error(f"invalid section header {line[:80]!r} (no spaces, and only "
                          "[NAME], [NAME:vars] or [NAME:children])", number, where)
        if state == "hosts":
            _host_line(d, line, group_name, number, where)
        elif state == "vars":
            if "=" not in line:
                raise d.error("expected key=value", number, where)
            key, value = (part.strip() for part in line.split("=", 1))
            d.set_group_var(d.groups[group_name], key, parse_value(value), number,
                            f"{where}.{key}")
        else:
            match = _GROUP_NAME.match(line)
            if match is None:
                raise d.error("expected a group name", number, where)
            child = match.group(1)
            if child not in d.groups:
                entry = pending.setdefault(child, {"line": number, "state": "children",
                                                   "parents": []})
                entry["parents"].append(group_name)
            else:
                d.add_child(group_name, child, number, f"{where}.{child}")
    for name, entry in pending.items():
        if entry["state"] == "vars":
            raise d.error(f"section [{name}:vars] is for a group that is never defined",
                          entry["line"], f"[{name}:vars]")
        raise d.error(f"section [{entry['parents'][-1]}:children] names group {name!r}, "
                      "which is never defined", entry["line"],
                      f"[{entry['parents'][-1]}:children].{name}",
                      hint=f"add a [{name}] section")


def _add_pending_children(d: Drafts, group: str, pending: dict[str, dict[str, Any]]) -> None:
    for parent in pending[group]["parents"]:
        d.add_child(parent, group, pending[group]["line"], f"[{parent}:children].{group}")
        if parent in pending and pending[parent]["state"] == "children":
            _add_pending_children(d, parent, pending)
    del pending[group]


def _host_line(d: Drafts, line: str, group_name: str, number: int, where: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise d.error(f"cannot split the host line: {exc}", number, where) from None
    if not tokens:
        return
    pattern, port = split_port(tokens[0])
    if tokens[0].endswith(":") and port is None:
        raise d.error(f"host {tokens[0]!r} ends with ':' (reserved for a port)", number, where)
    if pattern.strip() == "---":
        raise d.error("'---' is a sign this is a YAML file: name it .yaml", number, where)
    names = expand_host_pattern(pattern, error=lambda msg: d.error(msg, number, where))
    variables: list[tuple[str, Any]] = []
    for token in tokens[1:]:
        if "=" not in token:
            raise d.error(f"expected key=value after the host name, got {token[:80]!r}",
                          number, f"{where}.{tokens[0]}")
        key, value = token.split("=", 1)
        variables.append((key, parse_value(value)))
    group = d.groups[group_name]
    for name in names:
        new = name not in d.hosts
        host = d.add_host(name, group, number, f"{where}.{name}")
        if port is not None and new:
            host.vars["ansible_port"] = port
        for key, value in variables:
            d.set_host_var(host, key, value, number, f"{where}.{name}.{key}")
