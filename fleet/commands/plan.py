"""``fleet plan``: show every machine's exact run command; touches nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded, run_async
from fleet.commands.inventory import SourceOptions, load_for_command
from fleet.commands.options import (
    EXTRA_VARS,
    LIMIT,
    RUN_ID,
    SEED,
    TEXT_OR_JSON,
    arm_options,
    inventory_option,
    source_options,
)
from fleet.plan.limitfile import expand_limit

__all__ = ["plan"]


@click.command("plan")
@click.argument("playbook", type=click.Path(path_type=Path, dir_okay=False))
@inventory_option()
@LIMIT
@EXTRA_VARS
@RUN_ID
@SEED
@TEXT_OR_JSON
@click.option("--full", is_flag=True, help="Text: every machine's request in full (default: each "
              "step's request once, then what differs per machine).")
@source_options
@arm_options
def plan(playbook: Path, inventory_path: Path | None, limit: str | None,
         extra_vars: tuple[str, ...], run_id: str | None, seed: int, fmt: str, full: bool,
         **kw: Any) -> None:
    """Render PLAYBOOK against the inventory and print the plan.

    Starts nothing. Only an inventory with Azure sources (a sources: section, --source or
    --query) reads from Azure: the machine listing, or its cached copy.
    """
    options = SourceOptions(kw)

    def go() -> None:
        from fleet.plan.build import build_plan, new_run_id
        from fleet.plan.extravars import parse_extra_vars
        from fleet.plan.render import plan_to_text, write_plan

        options.specs()  # usage errors before any network
        inventory = run_async(lambda: load_for_command(inventory_path, options))
        for note in inventory.notes:
            echo(f"fleet: note: {note}", err=True)
        result = build_plan(
            playbook_path=playbook,
            inventory=inventory,
            limit=expand_limit(limit),
            extra_vars=parse_extra_vars(extra_vars),
            run_id=run_id or new_run_id(datetime.now(UTC)),
            seed=seed,
        )
        if fmt == "json":
            write_plan(result, lambda text: echo(text, nl=False))
        else:
            echo(plan_to_text(result, full=full), nl=False)
        from fleet.engine.runwide import secret_problems
        from fleet.secrets import resolve_secret

        for problem in secret_problems(result, resolve_secret):
            echo(f"fleet: warning: {problem} (fleet run would stop before sending anything)",
                       err=True)

    guarded(go)
