"""Merge what the sources found into the static file's drafts (used by
``fleet.inventory.loader``): match by resource id, else by name; add keyed groups; give Azure's
facts as variables."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fleet.inventory.sources.model import Discovered, KeyedGroup, group_names

if TYPE_CHECKING:
    from fleet.inventory.drafts import Drafts

__all__ = ["add_discovered", "azure_vars"]


def add_discovered(reader: Drafts, discovered: Sequence[Discovered],
                    keyed: tuple[KeyedGroup, ...]) -> list[str]:
    """Add what the sources found to the drafts; returns notes on machines left out."""
    notes: list[str] = []
    by_id = {"/".join(h.resource_id).lower(): h
             for h in reader.hosts.values() if h.resource_id is not None}
    seen: set[str] = set()
    generated: dict[str, str] = {}  # keyed group -> the machine whose facts made it
    for found in discovered:
        if found.key in seen:
            continue  # an earlier source already gave this machine: the first one wins
        seen.add(found.key)
        ident = (found.subscription_id, found.resource_group, found.name)
        host = by_id.get("/".join(ident).lower())
        if host is None:
            named = reader.hosts.get(found.name)
            if named is not None and named.resource_id is None and named.found is None:
                host = named  # declared by name in the file: this is the machine it means
            elif named is not None or found.name in reader.groups:
                host = reader.new_host(_unique_alias(found), 0)
            else:
                if not found.os_type:
                    notes.append(f"{found.name}: skipped, {found.source} did not report its "
                                 "osType (declare the host with os_type in the file to keep it)")
                    continue
                host = reader.new_host(found.name, 0)
        host.resource_id = ident
        host.found = found
        for group_name in group_names(found, keyed):
            if group_name in reader.hosts:
                raise reader.error(f"keyed group {group_name!r} has the name of a host",
                                   reader.hosts[group_name].line, f"hosts.{group_name}",
                                   hint="give the keyed group a prefix")
            generated.setdefault(group_name, found.name)
            group = reader.group(group_name, 1)
            if not group.parents and group_name != "all":
                group.parents.append("all")
                reader.groups["all"].children.append(group_name)
            if host.name not in group.hosts:
                group.hosts.append(host.name)
    _refuse_collisions(reader, discovered, generated)
    return notes


def _refuse_collisions(reader: Drafts, discovered: Sequence[Discovered],
                       generated: dict[str, str]) -> None:
    """A keyed group comes from tags, which anyone who can tag a machine controls: if one is
    named like a machine, ``hosts: NAME`` would target the group instead (or the machine would
    be renamed to make room). Whatever the order the sources listed them in, that is an error."""
    names = {found.name.lower(): found.name for found in discovered}
    names.update((name.lower(), name) for name in reader.hosts)
    for group_name, source in sorted(generated.items()):
        clash = names.get(group_name.lower())
        if clash is not None:
            raise reader.error(
                f"keyed group {group_name!r} (from the facts of machine {source!r}) has the "
                f"name of machine {clash!r}", None, f"keyed_groups.{group_name}",
                hint="a group and a machine must never share a name: give the keyed group a "
                     "prefix, or fix the tag")


def _unique_alias(found: Discovered) -> str:
    """Two machines share a name (different resource groups or subscriptions): the later one
    is called ``NAME-<6 hex of its resource id>`` in the inventory; its MachineRef keeps the
    ARM name."""
    digest = hashlib.sha256(found.key.encode()).hexdigest()[:6]
    return f"{found.name[:47]}-{digest}"


def azure_vars(found: Discovered) -> dict[str, Any]:
    values: dict[str, Any] = {
        "subscription_id": found.subscription_id,
        "resource_group": found.resource_group,
        "location": found.location,
        "tags": dict(found.tags),
        "arc_status": found.status,
        "arc_agent_version": found.agent_version,
        "arc_os_name": found.os_name,
    }
    if found.os_type:
        values["os_type"] = found.os_type
    return values
