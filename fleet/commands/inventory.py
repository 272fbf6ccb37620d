"""``fleet inventory``: list the machines an inventory (and a --limit pattern) selects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import guarded

__all__ = ["inventory"]

COLUMNS = ("name", "os", "location", "subscription", "resource group", "groups")


def _row(host: Any) -> tuple[str, ...]:
    machine = host.machine
    return (machine.name, machine.os_type, machine.location, machine.subscription_id,
            machine.resource_group, ",".join(host.groups))


def format_table(hosts: list[Any]) -> str:
    rows = [COLUMNS, *(_row(h) for h in hosts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.append(f"{len(hosts)} machines")
    return "\n".join(lines) + "\n"


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
        }
        for h in hosts
    ]
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


@click.command("inventory")
@click.option("-i", "--inventory", "inventory_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False), help="Inventory YAML file.")
@click.option("-l", "--limit", default=None,
              help="Pattern: names, globs, groups, a:b, a:&b, a:!b, tag:k=v (default: all).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def inventory(inventory_path: Path, limit: str | None, fmt: str) -> None:
    """List the selected machines with their coordinates, groups and variables."""

    def go() -> None:
        from fleet.inventory import load_inventory, select_hosts

        loaded = load_inventory(inventory_path)
        hosts = select_hosts(loaded, limit, field="--limit") if limit else list(loaded.hosts)
        click.echo(format_json(hosts) if fmt == "json" else format_table(hosts), nl=False)

    guarded(go)
