"""``fleet run``: plan, confirm, execute in waves, report."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from fleet.commands.adhoc import adhoc_options, adhoc_playbook, rollout_overrides
from fleet.commands.common import echo, fail, guarded, run_async
from fleet.commands.options import (
    EXTRA_VARS,
    LIMIT,
    RUN_DIR,
    RUN_ID,
    SEED,
    YES,
    connection_options,
    event_options,
    inventory_option,
    output_options,
    source_options,
)
from fleet.commands.temporal import temporal_options
from fleet.engine.options import EngineOptions
from fleet.engine.session import Connection
from fleet.errors import UsageError
from fleet.plan.limitfile import expand_limit

__all__ = ["connection_options", "run"]


def make_connection(kw: dict[str, Any]) -> Connection:
    return Connection(
        arm_endpoint=kw["arm_endpoint"].rstrip("/"),
        api_version=kw["api_version"],
        credential=kw["credential"],
        ca_file=kw["ca_file"],
        storage_connection_string=kw["storage_connection_string"],
        storage_account_url=kw["storage_account_url"],
    )


@click.command()
@click.argument("playbook", type=click.Path(dir_okay=False), required=False)
@inventory_option()
@LIMIT
@EXTRA_VARS
@RUN_ID
@RUN_DIR
@SEED
@YES
@output_options
@event_options
@click.option("--detach", is_flag=True, help="With --temporal: submit and return; do not follow.")
@adhoc_options
@temporal_options
@connection_options
@source_options
def run(**kw: Any) -> None:
    """Run PLAYBOOK across the machines of an inventory, in waves.

    Shows the plan summary and asks before starting (unless --yes). Exit codes: 0 all succeeded;
    1 some failed or timed out; 2 bad input; 3 halted by the rollout policy; 4 only unreachable
    machines kept it from succeeding; 9 a run-wide cause (ARM, TLS, credential, storage, a
    secret) stopped it before anything was sent; 130 interrupted.

    Ad-hoc, without a playbook: fleet run --script 'CMD' --os linux -i INV --limit PATTERN
    (or --script-file FILE). --waves, --max-concurrency and --max-failures override the
    playbook's rollout (or set the ad-hoc run's).
    """
    from datetime import UTC, datetime

    from fleet.plan.build import new_run_id

    kw["run_id"] = kw["run_id"] or new_run_id(datetime.now(UTC))
    adhoc = guarded(lambda: adhoc_playbook(kw, Path(kw["run_dir"] or Path("runs") / kw["run_id"])))
    if adhoc is not None:
        kw["playbook"] = str(adhoc)
    plan, inputs = guarded(lambda: _plan(kw))
    if not kw["yes"]:
        _confirm(plan)
    if kw.get("temporal"):
        from fleet.commands.temporal import run_temporal

        run_temporal(plan, kw)
        return
    run_dir = Path(kw["run_dir"] or Path("runs") / plan.run_id)
    options = engine_options(kw)
    inputs.update(keep=str(kw["keep"]), max_output_bytes=str(kw["max_output_bytes"]))
    record = run_async(
        lambda: execute(plan, make_connection(kw), run_dir, options, kw, inputs=inputs,
                        approver=terminal_approver(), handle_signals=True)
    )
    sys.exit(record.exit_code)


def engine_options(kw: dict[str, Any]) -> EngineOptions:
    return EngineOptions(max_output_bytes=int(kw["max_output_bytes"]), keep_run_commands=bool(kw["keep"]))


def rehearsal_clock() -> Any:
    """``FLEET_TIME_SCALE`` (rehearsals against ``fleet sim serve --time-scale``): every
    duration fleet waits or budgets (polls, timeouts, ARM bucket refill, backoff) counts
    simulated seconds, so a scaled simulator and fleet agree on time. Unset: real time."""
    import os

    from fleet.clock import parse_time_scale
    from fleet.engine.options import ScaledClock

    text = os.environ.get("FLEET_TIME_SCALE", "").strip()
    if not text:
        return None
    try:
        return ScaledClock(parse_time_scale(text))
    except ValueError as error:
        fail(UsageError(f"FLEET_TIME_SCALE: {error}"))


def terminal_approver() -> Any:
    """On a terminal, approval gates ask; elsewhere the run stops, resumable with --approve."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None

    async def ask(after_wave: int, next_label: str) -> bool:
        import asyncio

        question = f"Wave {after_wave} is done. Start the next wave ({next_label})?"
        return bool(await asyncio.to_thread(click.confirm, question, default=False))

    return ask


def _plan(kw: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """Build the plan, and the inputs ``fleet resume`` needs to rebuild exactly the same one."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from fleet.commands.inventory import SourceOptions, load_for_command
    from fleet.plan.build import build_plan, new_run_id
    from fleet.plan.extravars import parse_extra_vars

    inventory_path = Path(kw["inventory_path"]) if kw["inventory_path"] else None
    playbook_path = Path(kw["playbook"])
    extra_vars = parse_extra_vars(kw["extra_vars"])
    inventory = asyncio.run(load_for_command(inventory_path, SourceOptions(kw)))
    for note in getattr(inventory, "notes", ()):
        echo(f"note: {note}", err=True)
    overrides = rollout_overrides(kw)
    plan = build_plan(
        playbook_path=playbook_path,
        inventory=inventory,
        limit=expand_limit(kw["limit"]),
        extra_vars=extra_vars,
        run_id=kw["run_id"] or new_run_id(datetime.now(UTC)),
        seed=kw["seed"],
        rollout_overrides=overrides,
    )
    sources = {k: kw.get(k) for k in ("source_kind", "subscriptions", "resource_groups", "query",
                                       "cache_dir")}
    if kw.get("defaults"):  # resume rebuilds the plan with the same defaults file
        sources["defaults"] = str(Path(kw["defaults"]).resolve())
    inputs = {
        "playbook": str(playbook_path.resolve()),
        "inventory": str(inventory_path.resolve()) if inventory_path else "",
        "sources": json.dumps(sources, sort_keys=True, default=str),
        "limit": kw["limit"] or "",
        "extra_vars": json.dumps(extra_vars, sort_keys=True, default=str),
        "seed": str(kw["seed"]),
        "rollout_overrides": json.dumps(overrides, sort_keys=True),
    }
    return plan, inputs


def use_colour(stream: Any) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _expected(plan: Any, resumed_dir: Path | None) -> tuple[dict[int, int], dict[int, int]]:
    """Jobs per wave in the plan, and (on resume) those the journal says are finished."""
    from collections import Counter

    total = Counter(job.wave for job in plan.jobs)
    done: Counter[int] = Counter()
    if resumed_dir is not None and (resumed_dir / "journal.sqlite").is_file():
        from fleet.journal import Journal

        journal = Journal.open(resumed_dir / "journal.sqlite")
        try:
            done.update(row.wave for row in journal.jobs() if not row.rollback and row.state.terminal)
        finally:
            journal.close()
    return dict(total), dict(done)


def _confirm(plan: Any) -> None:
    from fleet.engine.summary import plan_summary

    echo(plan_summary(plan))
    if not sys.stdin.isatty():
        fail(UsageError("not a terminal, so no one can confirm: pass --yes to run"))
    if not click.confirm("Run it?", default=False):
        echo("nothing was run")
        sys.exit(0)


async def execute(
    plan: Any,
    connection: Connection,
    run_dir: Path,
    options: EngineOptions,
    kw: dict[str, Any],
    extra_observers: Sequence[Any] = (),
    *,
    verdict: bool = True,
    **engine: Any,
) -> Any:
    from fleet.engine.progress import JsonLog, Progress
    from fleet.engine.session import execute_plan
    from fleet.report import recap_text

    engine.setdefault("clock", rehearsal_clock())  # a bad FLEET_TIME_SCALE stops here, first
    colour = use_colour(sys.stdout)
    echo(f"run {plan.run_id}: folder {run_dir}")
    progress = Progress(sys.stdout, live=sys.stdout.isatty(), verbose=kw.get("verbose", 0), colour=colour)
    progress.expect(*_expected(plan, run_dir if engine.get("resume") else None))
    observers: list[Any] = [progress, *extra_observers]
    log = JsonLog(Path(kw["log_file"])) if kw.get("log_file") else None
    if log is not None:
        observers.append(log)
    try:
        record = await execute_plan(plan, connection=connection, run_dir=run_dir, options=options,
                                    observers=observers, **engine)
    finally:
        progress.close()
        if log is not None:
            log.close()
    # recap_text neutralises every untrusted piece itself, and adds colour codes of its own
    click.echo(recap_text(record, colour=colour, verdict=verdict), nl=False)
    echo(f"report: {run_dir / 'report.html'}")
    if record.status == "unresolved":
        echo(f"outcome unknown on some machines: fleet resume {run_dir} "
                   "--resolve-unknown skip|resend [MACHINE...]")
    if record.status in ("interrupted", "awaiting_approval"):
        echo(f"resume with: fleet resume {run_dir}" + (" --approve" if record.status == "awaiting_approval" else ""))
    return record
