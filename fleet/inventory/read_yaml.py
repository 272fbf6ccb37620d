"""Ansible's YAML inventory -> Drafts, in the order written (as ansible-core's ``yaml`` plugin:
a group's ``vars``, ``hosts`` and ``children`` are read in the order they appear, so the last
value written for a host variable wins, and hosts keep the order of their first mention).

Stricter than Ansible on purpose: an unknown key in a group, or a group that is not a mapping,
is an error (Ansible warns and skips it), and so is a duplicate key (Ansible takes the last).
"""

from __future__ import annotations

import difflib
from typing import Any

from fleet.inventory.drafts import Drafts, GroupDraft
from fleet.inventory.ranges import expand_host_pattern, split_port
from fleet.yamlsrc import YMap, describe, line_of, shown_key

__all__ = ["GROUP_KEYS", "SOURCES_KEY", "read_yaml_document"]

GROUP_KEYS = ("children", "hosts", "vars")
SOURCES_KEY = "sources"


def read_yaml_document(drafts: Drafts, data: YMap) -> None:
    """Every top-level key but ``sources`` is a group; a group not below another one ends up
    a child of ``all`` (``fleet.inventory.resolve`` does that, as Ansible's reconcile does)."""
    reader = _YamlReader(drafts)
    for name, body in data.items():
        if name == SOURCES_KEY:
            continue  # read by read_sources
        reader.group(name, body, data, None, shown_key(name).strip("'"))


class _YamlReader:
    def __init__(self, drafts: Drafts) -> None:
        self.d = drafts

    def group(self, name: Any, body: Any, container: Any, parent: str | None,
              where: str) -> GroupDraft:
        d = self.d
        line = line_of(container, name) or 1
        if not isinstance(name, str):
            raise d.error(f"invalid group name {shown_key(name)} (letters, digits, '_', '.', "
                          "'-')", line, where)
        group = d.group(name, line, where)
        if parent is not None:
            d.add_child(parent, name, line, where)
        if body is None:
            return group
        if not isinstance(body, dict):
            raise d.error(f"a group must be a mapping with {', '.join(GROUP_KEYS)}, got "
                          f"{describe(body)}", line, where)
        for key in body:
            if key not in GROUP_KEYS:
                close = difflib.get_close_matches(str(key), GROUP_KEYS, n=1)
                raise d.error(f"unknown key {shown_key(key)}", line_of(body, key),
                              f"{where}.{shown_key(key).strip(chr(39))}",
                              hint=f"did you mean {close[0]!r}?" if close
                              else f"a group has {', '.join(GROUP_KEYS)}")
        for key, section in body.items():  # the order written, as Ansible reads it
            key_line = line_of(body, key)
            if isinstance(section, str):  # Ansible: "hosts: web1" means {web1: null}
                section = {section: None}
                key_line = line_of(body, key)
            if section is None:
                continue
            if not isinstance(section, dict):
                what = {"vars": "variable names to values",
                        "hosts": "host names to host variables (or nothing)",
                        "children": "group names"}[key]
                raise d.error(f"must be a mapping of {what}, got {describe(section)}",
                              key_line, f"{where}.{key}")
            if key == "vars":
                for var, value in section.items():
                    d.set_group_var(group, var, value, line_of(section, var) or key_line,
                                    f"{where}.vars.{var}")
            elif key == "hosts":
                for host_key, host_vars in section.items():
                    self.host(host_key, host_vars, section, group, f"{where}.hosts")
            else:
                for child, child_body in section.items():
                    self.group(child, child_body, section, name, f"{where}.children.{child}")
        return group

    def host(self, key: Any, body: Any, container: Any, group: GroupDraft, where: str) -> None:
        d = self.d
        line = line_of(container, key) or 1
        names: list[Any] = [key]
        port = None
        if isinstance(key, str) and not key.startswith("/"):
            base, port = split_port(key)
            names = list(expand_host_pattern(
                base, error=lambda msg: d.error(msg, line, f"{where}.{key}")))
        if body is not None and not isinstance(body, dict):
            raise d.error(f"must be a mapping of variable names to values, got "
                          f"{describe(body)}", line, f"{where}.{key}")
        for name in names:
            new = name not in d.hosts
            host = d.add_host(name, group, line, where)
            if port is not None and new:  # Ansible: the port of the first mention
                host.vars["ansible_port"] = port
            for var, value in (body or {}).items():
                d.set_host_var(host, var, value, line_of(body, var) or line,
                               f"{where}.{host.name}.{var}")
