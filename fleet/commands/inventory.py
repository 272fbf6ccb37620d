"""``fleet inventory``: list the machines an inventory (its file, its ``sources:``, and sources
given on the command line) and a --limit pattern select."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded, run_async
from fleet.commands.options import INVENTORY_LIMIT, arm_options, inventory_option, source_options
from fleet.errors import UsageError

__all__ = ["SourceOptions", "inventory", "load_for_command", "source_options"]

COLUMNS = ("name", "os", "location", "subscription", "resource group", "groups")
SOURCE_COLUMNS = ("status", "source")


def _row(host: Any, with_source: bool) -> tuple[str, ...]:
    machine = host.machine
    row: tuple[str, ...] = (machine.name, machine.os_type, machine.location, machine.subscription_id,
           machine.resource_group, ",".join(host.groups))
    if with_source:
        origin = host.origin
        row += ((origin.status or "-", origin.source + (" (cached)" if origin.from_cache else ""))
                if origin is not None else ("-", "file"))
    return row


def format_table(hosts: list[Any]) -> str:
    with_source = any(getattr(h, "origin", None) is not None for h in hosts)
    header = COLUMNS + SOURCE_COLUMNS if with_source else COLUMNS
    rows = [header, *(_row(h, with_source) for h in hosts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.append(f"{len(hosts)} machines")
    return "\n".join(lines) + "\n"


def _origin(host: Any) -> dict[str, Any] | None:
    origin = getattr(host, "origin", None)
    if origin is None:
        return None
    return {"source": origin.source, "snapshot_at": origin.snapshot_at, "status": origin.status,
            "agent_version": origin.agent_version, "from_cache": origin.from_cache}


def format_json(hosts: list[Any]) -> str:
    data = [
        {
            "name": h.name,
            "id": h.machine.resource_id,
            "subscription_id": h.machine.subscription_id,
            "resource_group": h.machine.resource_group,
            "location": h.machine.location,
            "os_type": h.machine.os_type,
            "groups": list(h.groups),
            "tags": dict(h.tags),
            "vars": dict(h.vars),
            "origin": _origin(h),
        }
        for h in hosts
    ]
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


class SourceOptions:
    """The parsed ``source_options`` (and connection) of one command invocation."""

    def __init__(self, kw: dict[str, Any]) -> None:
        self.kw = kw

    def specs(self) -> tuple[Any, ...]:
        from fleet.inventory.sources.model import SourceSpec

        kw = self.kw
        kind = kw.get("source_kind")
        query = kw.get("query")
        subs = tuple(kw.get("subscriptions") or ())
        groups = tuple(kw.get("resource_groups") or ())
        if query is not None and kind == "arm":
            raise UsageError("--query is a Resource Graph query: use it without --source arm")
        if query is not None or kind == "resource-graph":
            if not query or not query.strip():
                raise UsageError("--source resource-graph needs --query 'KQL'")
            if groups:
                raise UsageError("--resource-group goes with --source arm; filter on "
                                 "resourceGroup in the query instead")
            return (SourceSpec("resource-graph", subs, query=query.strip()),)
        if kind == "arm":
            if not subs:
                raise UsageError("--source arm needs --subscription S")
            return (SourceSpec("arm", subs, groups),)
        if subs or groups:
            raise UsageError("--subscription and --resource-group need --source arm or --query")
        return ()

    def connection(self) -> Any:
        from fleet.engine.connection import Connection

        kw = self.kw
        return Connection(arm_endpoint=kw["arm_endpoint"].rstrip("/"),
                          api_version=kw["api_version"], credential=kw["credential"],
                          ca_file=kw["ca_file"])


async def load_for_command(path: Path | None, options: SourceOptions) -> Any:
    """The inventory a command works on: the file, its sources, the command line's sources."""
    from fleet.inventory import load_inventory_with_sources
    from fleet.inventory.defaults import load_defaults

    kw = options.kw
    defaults_path = kw.get("defaults")
    return await load_inventory_with_sources(
        path,
        connection=options.connection(),
        cache_dir=kw.get("cache_dir"),
        extra_sources=options.specs(),
        refresh=bool(kw.get("refresh")),
        use_cache=not kw.get("no_cache"),
        defaults=load_defaults(Path(defaults_path)) if defaults_path else None,
    )


@click.command("inventory")
@inventory_option()
@INVENTORY_LIMIT
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@source_options
@arm_options
def inventory(inventory_path: Path | None, limit: str | None, fmt: str, **kw: Any) -> None:
    """List the selected machines with their coordinates, groups and variables.

    Machines come from the file (-i), its sources: section, and --source/--query. Exit 2 for
    bad input (including a query Resource Graph refuses), 1 when Azure cannot be read.
    """
    options = SourceOptions(kw)

    def go() -> None:
        from fleet.inventory import select_hosts

        guarded(options.specs)  # usage errors before any network
        loaded = run_async(lambda: load_for_command(inventory_path, options))
        for note in loaded.notes:
            echo(f"fleet: note: {note}", err=True)
        # --limit '' is an error, as for plan and run (an empty pattern selects nothing)
        hosts = select_hosts(loaded, limit, field="--limit") if limit is not None else list(loaded.hosts)
        echo(format_json(hosts) if fmt == "json" else format_table(hosts), nl=False)

    guarded(go)
