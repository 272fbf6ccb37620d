"""Values of the ``sources:`` section and of what a source found."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DEFAULT_CACHE_TTL_S",
    "DEFAULT_KEYED_GROUPS",
    "Discovered",
    "KeyedGroup",
    "SourceKind",
    "SourceSpec",
    "SourcesConfig",
    "group_names",
]

DEFAULT_CACHE_TTL_S = 300
SourceKind = Literal["arm", "resource-graph"]
KEYS = ("tags", "os_type", "location", "resource_group", "subscription_id", "status")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class KeyedGroup:
    """Ansible ``keyed_groups``: ``key`` is ``tags`` (every tag: ``<tag>_<value>``),
    ``tags.NAME`` (``<prefix>_<value>``, prefix defaulting to NAME), or a machine field from
    :data:`KEYS` (``<prefix>_<value>``, prefix defaulting to the field name)."""

    key: str
    prefix: str | None = None
    separator: str = "_"


DEFAULT_KEYED_GROUPS = (
    KeyedGroup("tags"),
    KeyedGroup("os_type", prefix="os"),
    KeyedGroup("location"),
)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source. ``kind`` is ``arm`` (list machines of ``subscriptions``, optionally only
    in ``resource_groups``) or ``resource-graph`` (``query`` over ``subscriptions``, or every
    readable subscription when empty)."""

    kind: SourceKind
    subscriptions: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    query: str | None = None
    line: int | None = None  # where it was written, for messages

    @property
    def label(self) -> str:
        """How reports and the plan name this source."""
        if self.kind == "arm":
            where = ",".join(self.subscriptions)
            if self.resource_groups:
                where += "/" + ",".join(self.resource_groups)
            return f"arm:{where}"
        return f"resource-graph:{self.cache_key(endpoint='')[:12]}"

    def cache_key(self, *, endpoint: str) -> str:
        """Stable digest of everything that changes the answer (not the TTL)."""
        import hashlib

        canonical = json.dumps(
            {
                "endpoint": endpoint.rstrip("/").lower(),
                "kind": self.kind,
                "subscriptions": sorted(s.lower() for s in self.subscriptions),
                "resource_groups": sorted(g.lower() for g in self.resource_groups),
                "query": self.query,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SourcesConfig:
    sources: tuple[SourceSpec, ...]
    keyed_groups: tuple[KeyedGroup, ...] = DEFAULT_KEYED_GROUPS
    cache_ttl_s: int = DEFAULT_CACHE_TTL_S


@dataclass(frozen=True, slots=True)
class Discovered:
    """One Arc machine as a source saw it, with when and where it was seen."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    os_type: str  # lower case; "" if the source did not say
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str | None = None
    agent_version: str | None = None
    os_name: str | None = None
    source: str = ""  # SourceSpec.label
    snapshot_at: str = ""  # ISO 8601 UTC of the listing (of the cached listing, if cached)
    from_cache: bool = False

    @property
    def resource_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.HybridCompute/machines/{self.name}")

    @property
    def key(self) -> str:
        return self.resource_id.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id, "resource_group": self.resource_group,
            "name": self.name, "location": self.location, "os_type": self.os_type,
            "tags": dict(self.tags), "status": self.status, "agent_version": self.agent_version,
            "os_name": self.os_name,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any], *, source: str, snapshot_at: str,
                  from_cache: bool) -> Discovered:
        def text(key: str) -> str:
            value = data.get(key)
            return "" if value is None else str(value)

        def maybe(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        tags = data.get("tags")
        return Discovered(
            subscription_id=text("subscription_id"), resource_group=text("resource_group"),
            name=text("name"), location=text("location"), os_type=text("os_type").lower(),
            tags={str(k): "" if v is None else str(v)
                  for k, v in (tags.items() if isinstance(tags, Mapping) else ())},
            status=maybe("status"), agent_version=maybe("agent_version"),
            os_name=maybe("os_name"), source=source, snapshot_at=snapshot_at,
            from_cache=from_cache,
        )


def _safe(text: str) -> str:
    """Tag values are untrusted: anything outside a group name's alphabet becomes ``_``."""
    safe = _UNSAFE.sub("_", text)[:128]
    return "_" + safe[1:] if safe[:1] in (".", "-") else safe


def group_names(machine: Discovered, keyed: tuple[KeyedGroup, ...]) -> list[str]:
    """The groups ``machine`` joins, in ``keyed`` order, without duplicates or empty values."""
    out: list[str] = []
    for rule in keyed:
        pairs: list[tuple[str, str]] = []
        if rule.key == "tags":
            pairs = [(rule.prefix + rule.separator + name if rule.prefix else name, value)
                     for name, value in sorted(machine.tags.items())]
        elif rule.key.startswith("tags."):
            tag = rule.key[5:]
            found = {k.lower(): v for k, v in machine.tags.items()}.get(tag.lower())
            if found is not None:
                pairs = [(rule.prefix if rule.prefix is not None else tag, found)]
        else:
            value = getattr(machine, rule.key, None) if rule.key in KEYS else None
            if value:
                pairs = [(rule.prefix if rule.prefix is not None else rule.key, str(value))]
        for prefix, value in pairs:
            if value == "":
                continue
            name = _safe(f"{prefix}{rule.separator}{value}" if prefix else value)
            if name and name not in out:
                out.append(name)
    return out
