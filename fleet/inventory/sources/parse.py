"""The ``sources:`` section of an inventory file -> :class:`SourcesConfig`.

```yaml
sources:
  cache_ttl: 10m                  # default 5m; 0 turns the cache off
  keyed_groups:                   # default: every tag, os_<os_type>, location_<location>
    - {key: tags.role, prefix: role}
    - {key: os_type, prefix: os}
  arm:
    - subscription: SUB           # or subscriptions: [SUB, ...]
      resource_groups: [RG]       # optional (or resource_group: RG)
  resource_graph:
    - query: "resources | where type =~ 'microsoft.hybridcompute/machines' | ..."
      subscriptions: [SUB, ...]   # optional: every subscription you can read
```
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from fleet.durations import DurationSyntaxError, parse_duration
from fleet.errors import InventoryError
from fleet.inventory.sources.model import (
    DEFAULT_CACHE_TTL_S,
    DEFAULT_KEYED_GROUPS,
    KEYS,
    KeyedGroup,
    SourcesConfig,
    SourceSpec,
)
from fleet.yamlsrc import line_of, shown_key

__all__ = ["SECTION_KEYS", "parse_sources"]

SECTION_KEYS = ("arm", "resource_graph", "keyed_groups", "cache_ttl")
ARM_KEYS = ("subscription", "subscriptions", "resource_group", "resource_groups")
GRAPH_KEYS = ("query", "subscriptions")
GROUP_KEYS = ("key", "prefix", "separator")
_NAME = re.compile(r"^[A-Za-z0-9_.()-]{1,90}$")  # subscription ids and resource group names
_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$|^$")


class _Parser:
    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, message: str, container: Any, key: Any, where: str,
              hint: str | None = None) -> InventoryError:
        return InventoryError(message, file=self.file, line=line_of(container, key),
                              field=where, hint=hint)

    def keys(self, data: Any, allowed: tuple[str, ...], container: Any, key: Any,
             where: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.error(f"must be a mapping with {', '.join(allowed)}", container, key, where)
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                raise self.error(f"unknown key {shown_key(name)}", data, name,
                                 f"{where}.{shown_key(name).strip(chr(39))}",
                                 hint=f"did you mean {close[0]!r}?" if close
                                 else f"allowed: {', '.join(allowed)}")
        return data

    def names(self, data: dict[str, Any], one: str, many: str, where: str,
              *, required: bool) -> tuple[str, ...]:
        if one in data and many in data:
            raise self.error(f"give {one} or {many}, not both", data, one, f"{where}.{one}")
        if one in data:
            values: Any = [data[one]]
            key = one
        else:
            values = data.get(many, [])
            key = many
        if not isinstance(values, list):
            raise self.error("must be a list of names", data, key, f"{where}.{key}")
        out: list[str] = []
        for value in values:
            if isinstance(value, bool) or not isinstance(value, str | int) or not _NAME.match(str(value)):
                raise self.error(f"{value!r} is not a valid {one.replace('_', ' ')}", data, key,
                                 f"{where}.{key}")
            out.append(str(value))
        if required and not out:
            raise self.error(f"needs {one} or {many}", data, None, where)
        return tuple(out)

    def arm(self, item: Any, container: Any, index: int) -> SourceSpec:
        where = f"sources.arm[{index}]"
        data = self.keys(item, ARM_KEYS, container, index, where)
        return SourceSpec("arm", self.names(data, "subscription", "subscriptions", where,
                                            required=True),
                          self.names(data, "resource_group", "resource_groups", where,
                                     required=False),
                          line=line_of(container, index))

    def graph(self, item: Any, container: Any, index: int) -> SourceSpec:
        where = f"sources.resource_graph[{index}]"
        data = self.keys(item, GRAPH_KEYS, container, index, where)
        query = data.get("query")
        if not isinstance(query, str) or not query.strip():
            raise self.error("needs query: a KQL query over the resources table", data,
                             "query" if "query" in data else None, f"{where}.query")
        subs = self.names(data, "subscription", "subscriptions", where, required=False)
        return SourceSpec("resource-graph", subs, query=query.strip(),
                          line=line_of(container, index))

    def keyed(self, item: Any, container: Any, index: int) -> KeyedGroup:
        where = f"sources.keyed_groups[{index}]"
        data = self.keys(item, GROUP_KEYS, container, index, where)
        key = data.get("key")
        if not isinstance(key, str) or not (key in KEYS or (key.startswith("tags.") and key[5:])):
            raise self.error(f"key must be tags, tags.NAME or one of {', '.join(KEYS[1:])}",
                             data, "key", f"{where}.key")
        prefix = data.get("prefix")
        if prefix is not None and (not isinstance(prefix, str) or not _PREFIX.match(prefix)):
            raise self.error("prefix must be letters, digits, '_', '.', '-'", data, "prefix",
                             f"{where}.prefix")
        separator = data.get("separator", "_")
        if not isinstance(separator, str) or separator not in ("_", "-", ".", ""):
            raise self.error("separator must be one of _ - . or empty", data, "separator",
                             f"{where}.separator")
        return KeyedGroup(key, prefix, separator)

    def items(self, data: dict[str, Any], key: str) -> list[Any]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error("must be a list", data, key, f"sources.{key}")
        return value


def parse_sources(node: Any, *, file: str, container: Any = None) -> SourcesConfig:
    """Validate the ``sources:`` mapping. Raises InventoryError naming file, line and field."""
    parser = _Parser(file)
    data = parser.keys(node, SECTION_KEYS, container, "sources", "sources")
    arm_items = parser.items(data, "arm")
    graph_items = parser.items(data, "resource_graph")
    sources = [parser.arm(item, data["arm"], i) for i, item in enumerate(arm_items)]
    sources += [parser.graph(item, data["resource_graph"], i) for i, item in enumerate(graph_items)]
    if not sources:
        raise parser.error("lists no source (add arm: or resource_graph: entries)", container,
                           "sources", "sources")
    keyed: tuple[KeyedGroup, ...] = DEFAULT_KEYED_GROUPS
    if "keyed_groups" in data:
        keyed = tuple(parser.keyed(item, data["keyed_groups"], i)
                      for i, item in enumerate(parser.items(data, "keyed_groups")))
    ttl = DEFAULT_CACHE_TTL_S
    if "cache_ttl" in data:
        try:
            ttl = parse_duration(data["cache_ttl"])
        except DurationSyntaxError as error:
            raise parser.error(str(error), data, "cache_ttl", "sources.cache_ttl") from None
    return SourcesConfig(tuple(sources), keyed, ttl)
