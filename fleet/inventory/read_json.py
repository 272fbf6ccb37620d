"""The JSON ``ansible-inventory --list`` prints (and inventory scripts print) -> Drafts, so any
Ansible inventory plugin can feed fleet: ``ansible-inventory -i azure_rm.yml --list > inv.json``.

    {"_meta": {"hostvars": {"web1": {"location": "eastus"}}},
     "all": {"children": ["ungrouped", "web"]},
     "web": {"hosts": ["web1"], "vars": {"x": 1}, "children": []}}

A group is ``{"hosts": [...], "children": [...], "vars": {...}}`` or a plain list of hosts.
``_meta.hostvars`` are host variables. ``--list`` has already merged group variables into them;
with ``--export`` the groups keep their ``vars`` and the usual precedence applies. Line numbers
in errors are those of the JSON text.
"""

from __future__ import annotations

from typing import Any

from fleet.inventory.drafts import Drafts
from fleet.yamlsrc import describe, line_of, shown_key

__all__ = ["looks_like_list_json", "read_list_json"]

_GROUP_KEYS = ("hosts", "children", "vars")


def looks_like_list_json(data: Any) -> bool:
    """``--list`` output: has ``_meta``, or a group whose hosts or children are lists."""
    if not isinstance(data, dict):
        return True  # let read_list_json say what is wrong
    if "_meta" in data:
        return True
    return any(isinstance(body, list) or (isinstance(body, dict) and any(
        isinstance(body.get(key), list) for key in ("hosts", "children")))
        for body in data.values())


def read_list_json(d: Drafts, data: Any) -> None:
    if not isinstance(data, dict):
        raise d.error(f"must be an object of groups (ansible-inventory --list), got "
                      f"{describe(data)}", line_of(data) or 1)
    meta = data.get("_meta") or {}
    if not isinstance(meta, dict):
        raise d.error("must be an object with hostvars", line_of(data, "_meta"), "_meta")
    hostvars = meta.get("hostvars") or {}
    if not isinstance(hostvars, dict):
        raise d.error("must be an object of host names to variables",
                      line_of(meta, "hostvars"), "_meta.hostvars")
    for name in data:
        if name != "_meta":
            d.group(name, line_of(data, name) or 1, shown_key(name).strip("'"))
    for name, body in data.items():
        if name == "_meta":
            continue
        line = line_of(data, name) or 1
        group = d.groups[name]
        if isinstance(body, list):
            body = {"hosts": body}
        if body is None:
            continue
        if not isinstance(body, dict):
            raise d.error(f"a group must be an object with {', '.join(_GROUP_KEYS)} or a list "
                          f"of hosts, got {describe(body)}", line, str(name))
        for key in body:
            if key not in _GROUP_KEYS:
                raise d.error(f"unknown key {shown_key(key)}", line_of(body, key),
                              f"{shown_key(name).strip(chr(39))}.{shown_key(key).strip(chr(39))}",
                              hint=f"a group has {', '.join(_GROUP_KEYS)}")
        for key in ("hosts", "children"):
            items = body.get(key) or []
            if not isinstance(items, list):
                raise d.error(f"must be a list of names, got {describe(items)}",
                              line_of(body, key), f"{name}.{key}")
            for index, item in enumerate(items):
                where = f"{name}.{key}[{index}]"
                item_line = line_of(items, index) or line
                if key == "hosts":
                    d.add_host(item, group, item_line, where)
                else:
                    if not isinstance(item, str) or item not in d.groups:
                        d.group(item, item_line, where)
                    d.add_child(name, item, item_line, where)
        group_vars = body.get("vars") or {}
        if not isinstance(group_vars, dict):
            raise d.error(f"must be an object of variables, got {describe(group_vars)}",
                          line_of(body, "vars"), f"{name}.vars")
        for var, value in group_vars.items():
            d.set_group_var(group, var, value, line_of(group_vars, var), f"{name}.vars.{var}")
    for host_name, values in hostvars.items():
        line = line_of(hostvars, host_name) or 1
        where = f"_meta.hostvars.{host_name}"
        host = d.hosts.get(host_name) if isinstance(host_name, str) else None
        if host is None:  # a host only _meta knows: Ansible's --list never writes one
            host = d.add_host(host_name, d.groups["all"], line or 1, where)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise d.error(f"must be an object of variables, got {describe(values)}", line,
                          where)
        for var, value in values.items():
            d.set_host_var(host, var, value, line_of(values, var) or line, f"{where}.{var}")
