"""``fleet sweep schedule …``: scheduled sweeps on a Temporal Schedule (production mode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, fail, guarded, run_async
from fleet.commands.options import BoundedFloat, inventory_option, storage_options
from fleet.commands.temporal import leave, target_of, temporal_options
from fleet.errors import UsageError

__all__ = ["schedule"]


def _target(kw: dict[str, Any]) -> Any:
    if not kw.get("temporal"):
        fail(UsageError("scheduled sweeps live on Temporal: give --temporal ADDRESS"))
    return target_of(kw)


@click.group()
def schedule() -> None:
    """Scheduled sweeps on a Temporal Schedule: overlap "skip" (a firing while the previous
    sweep still runs is skipped), catch-up window 60 minutes; each firing is one workflow whose
    sweep reports drift against the previous firing."""


@schedule.command("create")
@click.argument("name")
@click.argument("playbook", type=click.Path(dir_okay=False, exists=True))
@inventory_option(required=True)
@click.option("--cron", help="When it fires, a cron expression (UTC), e.g. '0 3 * * *'.")
@click.option("--every", "every_s", type=BoundedFloat(1, 366 * 86_400),
              help="Or: fire every this many seconds (1 s to a year).")
@storage_options("Where the schedule's inputs and history are kept, by key.",
                 "Where the schedule's inputs and history are kept, by Entra sign-in.")
@temporal_options
def create(**kw: Any) -> None:
    """Create schedule NAME: run the sweep PLAYBOOK over the inventory at every firing. The
    playbook and inventory are validated now (planned once) and stored with the schedule."""
    from fleet.inventory import load_inventory
    from fleet.plan.sweep import build_sweep
    from fleet.production.scheduled import ScheduleSpec, slug_of
    from fleet.production.schedules import create_schedule

    if bool(kw["cron"]) == bool(kw["every_s"]):
        fail(UsageError("give --cron EXPR or --every SECONDS (one of them)"))
    playbook, inventory = Path(kw["playbook"]), Path(kw["inventory_path"])
    guarded(lambda: build_sweep(playbook_path=playbook, inventory=load_inventory(inventory),
                                limit=None, extra_vars={}, run_id=f"{slug_of(kw['name'])}-check"))
    spec = ScheduleSpec(kw["name"], kw["cron"] or "", playbook.read_bytes(), inventory.read_bytes())
    sid = run_async(lambda: create_schedule(
        spec, _target(kw), connection_string=kw["storage_connection_string"],
        account_url=kw["storage_account_url"], interval_s=kw["every_s"]))
    echo(f"schedule {sid} created (overlap: skip; catch-up window: 60 min)")
    leave(0)


@schedule.command("list")
@temporal_options
def list_(**kw: Any) -> None:
    """The scheduled sweeps on this Temporal namespace."""
    from fleet.production.schedules import list_schedules

    for entry in run_async(lambda: list_schedules(_target(kw))):
        echo(entry["id"])
    leave(0)


@schedule.command("describe")
@click.argument("name")
@temporal_options
def describe(**kw: Any) -> None:
    """State, spec, firings so far and the next ones (JSON)."""
    from fleet.production.schedules import describe_schedule

    echo(json.dumps(run_async(lambda: describe_schedule(_target(kw), kw["name"])), indent=2))
    leave(0)


@schedule.command("trigger")
@click.argument("name")
@temporal_options
def trigger(**kw: Any) -> None:
    """Fire the schedule now (skipped if its previous sweep still runs)."""
    from fleet.production.schedules import trigger_schedule

    run_async(lambda: trigger_schedule(_target(kw), kw["name"]))
    echo(f"schedule {kw['name']} triggered")
    leave(0)


@schedule.command("pause")
@click.argument("name")
@click.option("--resume", "unpause", is_flag=True, help="Resume a paused schedule instead.")
@temporal_options
def pause(**kw: Any) -> None:
    """Pause the schedule (no firings until resumed)."""
    from fleet.production.schedules import pause_schedule

    run_async(lambda: pause_schedule(_target(kw), kw["name"], not kw["unpause"]))
    echo(f"schedule {kw['name']} {'resumed' if kw['unpause'] else 'paused'}")
    leave(0)


@schedule.command("delete")
@click.argument("name")
@temporal_options
def delete(**kw: Any) -> None:
    """Delete the schedule (its stored history stays in the storage account)."""
    from fleet.production.schedules import delete_schedule

    run_async(lambda: delete_schedule(_target(kw), kw["name"]))
    echo(f"schedule {kw['name']} deleted")
    leave(0)
