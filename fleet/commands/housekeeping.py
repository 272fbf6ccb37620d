"""``fleet commands list|clean``: the run commands present on machines, and removing the ones
fleet made and left behind (``--keep``, a crash). Deletion only touches fleet's own (named
``fleet-…``, or the shortened ``f-…-<hash>-<n>``) that have ended; a running one may belong to a live run and is left alone."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, fail, run_async
from fleet.commands.inventory import SourceOptions, load_for_command
from fleet.commands.options import (
    INVENTORY_LIMIT,
    TEXT_OR_JSON,
    YES,
    arm_options,
    inventory_option,
    source_options,
)
from fleet.errors import EXIT_FAILED, FleetError, UsageError
from fleet.report.recap import plural

__all__ = ["commands", "made_by_fleet"]

# fleet's names (fleet.plan.names.run_command_name): fleet-<run>-<step>-<n>, or, when that is
# too long, f-<end of run>-<step>-<8 hex of a hash>-<n>
_FLEET_NAME = re.compile(r"^(fleet-.+-\d+|f-.+-[0-9a-f]{8}-\d+)$")
PARALLEL = 16  # machines listed or cleaned at once (the ARM client's buckets pace the requests)


@click.group("commands")
def commands() -> None:
    """The run commands present on machines: list them, clean up fleet's leftovers."""


def made_by_fleet(name: str) -> bool:
    return bool(_FLEET_NAME.match(name))


def _target_options(fn: Any) -> Any:
    for option in reversed([inventory_option(), INVENTORY_LIMIT, source_options, arm_options]):
        fn = option(fn)
    return fn


@commands.command("list")
@_target_options
@TEXT_OR_JSON
def list_command(inventory_path: Path | None, limit: str | None, fmt: str, **kw: Any) -> None:
    """List every run command on the selected machines: name, state, start, fleet-made or not."""
    rows, errors = run_async(lambda: _collect(inventory_path, limit, kw))
    if fmt == "json":
        echo(json.dumps({"run_commands": rows, "errors": errors}, indent=2, sort_keys=True))
    else:
        _print(rows, errors)
    sys.exit(EXIT_FAILED if errors else 0)


@commands.command("clean")
@_target_options
@YES
def clean_command(inventory_path: Path | None, limit: str | None, yes: bool, **kw: Any) -> None:
    """Delete the run commands fleet made (fleet-…) that have ended, on the selected machines."""
    rows, errors = run_async(lambda: _collect(inventory_path, limit, kw))
    doomed = [r for r in rows if r["fleet"] and r["ended"]]
    kept = [r for r in rows if r["fleet"] and not r["ended"]]
    for row in kept:
        echo(f"left alone (still running, may belong to a live run): {row['machine']} {row['name']}")
    if not doomed:
        echo("nothing to clean: no ended run command made by fleet")
        sys.exit(EXIT_FAILED if errors else 0)
    _print(doomed, [])
    if not yes:
        if not sys.stdin.isatty():
            fail(UsageError("not a terminal, so no one can confirm: pass --yes to delete"))
        if not click.confirm(f"Delete these {plural(len(doomed), 'run command')}?", default=False):
            echo("nothing was deleted")
            return
    failed = run_async(lambda: _delete(doomed, kw))
    echo(f"deleted {len(doomed) - len(failed)} of {plural(len(doomed), 'run command')}")
    for message in failed:
        echo(f"could not delete: {message}", err=True)
    sys.exit(EXIT_FAILED if failed or errors else 0)


def _print(rows: list[dict[str, Any]], errors: list[str]) -> None:
    echo(f"{'machine':<24} {'run command':<40} {'state':<10} {'started':<20} fleet")
    for row in rows:
        echo(f"{row['machine'][:24]:<24} {row['name'][:40]:<40} {row['state'][:10]:<10} "
             f"{(row['started'] or '-')[:19]:<20} {'yes' if row['fleet'] else 'no'}")
    echo(f"{plural(len(rows), 'run command')}, {sum(1 for r in rows if r['fleet'])} made by fleet")
    for error in errors:
        echo(f"could not list: {error}", err=True)


def _client(kw: dict[str, Any]) -> tuple[Any, Any]:
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential
    from fleet.arm.transport import make_transport

    endpoint = kw["arm_endpoint"].rstrip("/")
    credential = build_credential(kw["credential"], endpoint=endpoint, ca_file=kw["ca_file"])
    arm = ArmClient(endpoint=endpoint, transport=make_transport(ca_file=kw["ca_file"], endpoint=endpoint),
                    credential=credential, api_version=kw["api_version"])
    return arm, credential


async def _collect(inventory_path: Path | None, limit: str | None,
                   kw: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    from fleet.inventory.patterns import select_hosts

    loaded = await load_for_command(inventory_path, SourceOptions(kw))
    hosts = select_hosts(loaded, limit, field="--limit") if limit is not None else list(loaded.hosts)
    arm, credential = _client(kw)
    gate = asyncio.Semaphore(PARALLEL)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []

    async def one(machine: Any) -> None:
        async with gate:
            try:
                views = await arm.list_run_commands(machine)
            except FleetError as error:
                errors.append(f"{machine.name}: {error.one_line()}")
                return
        for view in views:
            state = view.execution_state or view.provisioning_state or "unknown"
            rows.append({
                "machine": machine.name, "machine_id": machine.resource_id, "name": view.name,
                "state": state, "started": view.start_time, "fleet": made_by_fleet(view.name),
                "ended": view.execution_terminal or (view.provisioning_terminal and not view.execution_state),
            })

    try:
        await asyncio.gather(*(one(h.machine) for h in hosts))
    finally:
        await arm.aclose()
        await credential.aclose()
    rows.sort(key=lambda r: (r["machine"].lower(), r["name"]))
    return rows, sorted(errors)


async def _delete(rows: list[dict[str, Any]], kw: dict[str, Any]) -> list[str]:
    from fleet.types import MachineRef

    arm, credential = _client(kw)
    gate = asyncio.Semaphore(PARALLEL)
    failed: list[str] = []

    async def one(row: dict[str, Any]) -> None:
        parts = row["machine_id"].split("/")
        machine = MachineRef(parts[2], parts[4], parts[-1], "", "")
        async with gate:
            try:
                await arm.delete_run_command(machine, row["name"])
            except FleetError as error:
                failed.append(f"{row['machine']} {row['name']}: {error.one_line()}")

    try:
        await asyncio.gather(*(one(r) for r in rows))
    finally:
        await arm.aclose()
        await credential.aclose()
    return failed

