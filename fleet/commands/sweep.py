"""``fleet sweep``: run a compliance sweep (``fleet sweep PLAYBOOK -i INV``) or compare two
(``fleet sweep diff A B``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded, run_async
from fleet.commands.options import (
    DEFAULTS,
    EXTRA_VARS,
    LIMIT,
    RUN_DIR,
    RUN_ID,
    SEED,
    connection_options,
    event_options,
    inventory_option,
    output_options,
)
from fleet.commands.run import make_connection
from fleet.plan.limitfile import expand_limit

__all__ = ["sweep"]

EXIT_HELP = """\b
Exit codes (most actionable first):
  0  compliant: every applicable check passed on every machine
  5  non-compliant: some checks fail
  6  new drift: a check that passed in the previous sweep (--history) fails now
  7  unable to assess some machines (check errors, no answer, cut output)
  2  bad input; 8 another sweep holds the --history lock; 130 interrupted
"""


class _DefaultRun(click.Group):
    """``fleet sweep PLAYBOOK ...`` means ``fleet sweep run PLAYBOOK ...``; ``diff`` is the
    only other subcommand (a playbook named ``diff`` can be given as ``./diff``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRun, epilog=EXIT_HELP)
def sweep() -> None:
    """Ask every machine many read-only questions in one run command each; write a compliance
    matrix (JSON, CSV, HTML, JUnit) and the drift since the last sweep.

    \b
    fleet sweep PLAYBOOK -i INVENTORY [--history DIR]   run a sweep
    fleet sweep diff A B                                compare two sweeps
    """


@sweep.command("run", epilog=EXIT_HELP)
@click.argument("playbook", type=click.Path(dir_okay=False))
@inventory_option(required=True)
@DEFAULTS
@LIMIT
@EXTRA_VARS
@click.option("--history", type=click.Path(file_okay=False),
              help="Keep every sweep here and report drift since the previous one (locked while a "
                   "sweep runs).")
@RUN_ID
@RUN_DIR
@SEED
@output_options
@event_options
@connection_options
def run_sweep_command(**kw: Any) -> None:
    """Run the sweep PLAYBOOK (a playbook with checks:) across an inventory. No confirmation is
    asked: checks are read-only, and sweeps usually run from a scheduler."""
    from fleet.engine.options import EngineOptions

    sweep_plan = guarded(lambda: _plan(kw))
    run_dir = Path(kw["run_dir"] or Path("runs") / sweep_plan.plan.run_id)
    options = EngineOptions(max_output_bytes=kw["max_output_bytes"], keep_run_commands=kw["keep"])
    outcome = run_async(lambda: _run(sweep_plan, run_dir, options, kw))
    sys.exit(outcome.exit_code)


def _plan(kw: dict[str, Any]) -> Any:
    from datetime import UTC, datetime

    from fleet.inventory import load_inventory
    from fleet.inventory.defaults import load_defaults
    from fleet.plan.build import new_run_id
    from fleet.plan.extravars import parse_extra_vars
    from fleet.plan.sweep import build_sweep

    return build_sweep(
        playbook_path=Path(kw["playbook"]),
        inventory=load_inventory(Path(kw["inventory_path"]), defaults=load_defaults(
            Path(kw["defaults"])) if kw.get("defaults") else None),
        limit=expand_limit(kw["limit"]),
        extra_vars=parse_extra_vars(kw["extra_vars"]),
        run_id=kw["run_id"] or new_run_id(datetime.now(UTC)),
        seed=kw["seed"],
    )


async def _run(sweep_plan: Any, run_dir: Path, options: Any, kw: dict[str, Any]) -> Any:
    from fleet.commands.run import execute
    from fleet.engine.sweep import run_sweep, summary_text
    from fleet.sweep.history import HistoryStore

    connection = make_connection(kw)
    history = HistoryStore(Path(kw["history"])) if kw["history"] else None

    async def engine(plan: Any) -> Any:
        return await execute(plan, connection, run_dir, options, kw, verdict=False)

    outcome = await run_sweep(sweep_plan, execute=engine, run_dir=run_dir, history=history)
    echo(summary_text(outcome))
    return outcome


def _resolve(ref: str, history: str | None) -> Path:
    path = Path(ref)
    if path.is_dir():
        return path / "compliance.json"
    if path.exists() or history is None:
        return path
    from fleet.sweep.history import HistoryStore

    found = HistoryStore(Path(history)).find(ref)
    return found if found is not None else path


@sweep.command("diff", epilog="Exit codes: 0 no newly failing checks; 6 some; 2 bad input.")
@click.argument("before")
@click.argument("after")
@click.option("--history", type=click.Path(file_okay=False),
              help="Also accept run ids of sweeps kept in this history folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the drift as JSON.")
def diff(before: str, after: str, history: str | None, as_json: bool) -> None:
    """Compare two sweeps: BEFORE and AFTER are compliance.json files, run folders, or (with
    --history) run ids."""
    import json

    from fleet.engine.sweep import EXIT_COMPLIANT, EXIT_DRIFT
    from fleet.sweep.drift import diff_matrices, drift_to_json
    from fleet.sweep.history import load_matrix

    def compare() -> Any:
        return diff_matrices(load_matrix(_resolve(before, history)),
                             load_matrix(_resolve(after, history)))

    drift = guarded(compare)
    if as_json:
        echo(json.dumps(drift_to_json(drift), indent=1))
    else:
        echo(drift.summary().replace("drift since", "drift from", 1)
                   + f" to {drift.after_run}")
        for label, changes in (("newly failing", drift.newly_failing),
                               ("newly passing", drift.newly_passing), ("changed", drift.other)):
            for c in changes:
                echo(f"  {label}: {c.machine} {c.check_id} ({c.before.value} -> "
                           f"{c.after.value}) {c.detail}".rstrip())
        for label, names in (("appeared", drift.machines_appeared),
                             ("vanished", drift.machines_vanished),
                             ("check added", drift.checks_added),
                             ("check removed", drift.checks_removed)):
            for name in names:
                echo(f"  {label}: {name}")
    sys.exit(EXIT_DRIFT if drift.newly_failing else EXIT_COMPLIANT)


def _add_schedule() -> None:
    from fleet.commands.sweep_schedule import schedule

    sweep.add_command(schedule)


_add_schedule()
