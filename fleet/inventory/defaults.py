"""``--defaults FILE``: the Azure coordinates an Ansible inventory does not carry.

fleet needs ``subscription_id``, ``resource_group``, ``location`` and ``os_type`` for every
machine; an inventory written for Ansible (or listed by an Ansible inventory plugin) rarely has
them all. One small file fills the gaps, never overriding what the inventory says::

    # fleet-defaults.yaml
    vars:                        # lowest precedence: any inventory level overrides them
      subscription_id: aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e
      resource_group: rg-prod
      location: eastus
    os_type:                     # when no variable gives os_type: the group naming convention
      windows: [windows, "win*"]   # group names or globs; the first rule that matches wins
      linux: ["*"]
    from:                        # take a key from another host variable (dotted path), e.g.
      resource_id: id            # the Arc resource id azure_rm lists as `id`
      os_type: os_profile.system

For each key fleet needs, the first that gives a value wins: an inventory variable of that
name, then ``from:``, then (``os_type``) the group rules, then ``vars:``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import InventoryError
from fleet.inventory.drafts import RESERVED_VARS, VAR_NAME, plain
from fleet.yamlsrc import describe, line_of, load_yaml, shown_key

__all__ = ["FROM_KEYS", "Defaults", "load_defaults"]

FROM_KEYS = ("subscription_id", "resource_group", "location", "os_type", "resource_id")
_KEYS = ("vars", "os_type", "from")
_OS_TYPES = ("windows", "linux")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


@dataclass(frozen=True, slots=True)
class Defaults:
    vars: Mapping[str, Any] = field(default_factory=dict)
    os_type_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (os_type, group globs)
    sources: Mapping[str, str] = field(default_factory=dict)  # fleet key -> host var path
    file: str = ""

    def fill(self, values: MutableMapping[str, Any], groups: Iterable[str]) -> None:
        """Fill the keys ``values`` (a host's merged variables) lacks, in place."""
        for key, path in self.sources.items():
            if _missing(values.get(key)):
                found = _lookup(values, path)
                if not _missing(found):
                    values[key] = found
        if _missing(values.get("os_type")) and self.os_type_groups:
            names = [*groups, "all"]
            for os_type, patterns in self.os_type_groups:
                if any(fnmatch.fnmatchcase(name, pattern) for name in names
                       for pattern in patterns):
                    values["os_type"] = os_type
                    break
        for key, value in self.vars.items():
            if _missing(values.get(key)):
                values[key] = value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _lookup(values: Mapping[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return None if isinstance(current, (dict, list)) else current


def load_defaults(path: Path) -> Defaults:
    """Read and check ``path``; every problem is an InventoryError naming file, line, field."""
    file = str(path)
    data = load_yaml(path, error=InventoryError)
    if data is None:
        return Defaults(file=file)

    def fail(message: str, container: Any, key: Any, where: str) -> InventoryError:
        return InventoryError(message, file=file, line=line_of(container, key), field=where)

    if not isinstance(data, dict):
        raise fail(f"must be a mapping with {', '.join(_KEYS)}, got {describe(data)}",
                   data, None, "defaults")
    for key in data:
        if key not in _KEYS:
            raise fail(f"unknown key {shown_key(key)} (allowed: {', '.join(_KEYS)})", data, key,
                       shown_key(key).strip("'"))
    values = data.get("vars") or {}
    if not isinstance(values, dict):
        raise fail(f"must be a mapping of variables, got {describe(values)}", data, "vars",
                   "vars")
    for name in values:
        if not isinstance(name, str) or not VAR_NAME.match(name) or name in RESERVED_VARS:
            raise fail(f"bad variable name {shown_key(name)}", values, name,
                       f"vars.{shown_key(name).strip(chr(39))}")
    rules: list[tuple[str, tuple[str, ...]]] = []
    os_rules = data.get("os_type") or {}
    if not isinstance(os_rules, dict):
        raise fail("must map windows/linux to lists of group names", data, "os_type", "os_type")
    for os_type, patterns in os_rules.items():
        where = f"os_type.{os_type}"
        if os_type not in _OS_TYPES:
            raise fail(f"must be windows or linux, got {os_type!r}", os_rules, os_type, where)
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise fail("must be a list of group names or globs", os_rules, os_type, where)
        rules.append((os_type, tuple(patterns)))
    sources = data.get("from") or {}
    if not isinstance(sources, dict):
        raise fail("must map fleet keys to host variable paths", data, "from", "from")
    for key, var_path in sources.items():
        where = f"from.{key}"
        if key not in FROM_KEYS:
            raise fail(f"{key!r} is not a key fleet fills (one of {', '.join(FROM_KEYS)})",
                       sources, key, where)
        if not isinstance(var_path, str) or not _PATH.match(var_path):
            raise fail("must be a variable name or a dotted path (os_profile.system)",
                       sources, key, where)
    return Defaults(vars=plain(values), os_type_groups=tuple(rules),
                    sources={str(k): str(v) for k, v in sources.items()}, file=file)
