"""``fleet resume RUN_DIR``: continue a run after a crash, Ctrl-C or an approval gate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, fail, guarded, run_async
from fleet.commands.options import event_options, reconnect_options
from fleet.commands.run import execute, terminal_approver
from fleet.commands.runfolder import open_meta, rebuild_plan, reconnection
from fleet.commands.temporal import temporal_options
from fleet.engine.options import EngineOptions
from fleet.engine.resolve import Resolution
from fleet.errors import UsageError
from fleet.report.recap import plural

__all__ = ["finished_status", "resume"]

# A run in one of these states may still have work: resume continues it.
UNFINISHED = ("", "running", "interrupted", "awaiting_approval")


def finished_status(run_dir: Path, meta: dict[str, str]) -> tuple[str, int] | None:
    """The recorded (status, exit code) when the run has nothing left to do: every job ended,
    no run command left to delete, not waiting at a gate. None when resume has work."""
    from fleet.journal import Journal
    from fleet.types import JobState

    status = meta.get("status") or ""
    if status in UNFINISHED or meta.get("awaiting_approval"):
        return None
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        if any(not row.state.terminal or row.state == JobState.UNKNOWN for row in journal.jobs()):
            return None  # unknown jobs: every resume looks again, the operator resolves them
        if meta.get("input_keep") != "True" and journal.uncleaned():
            return None  # run commands a crash left behind: resume deletes them
    finally:
        journal.close()
    try:
        return status, int(meta.get("exit_code") or 0)
    except ValueError:
        return None


def check_resolution(run_dir: Path, resolution: Resolution) -> None:
    """Refuse, before anything is touched, a resolution with nothing to resolve or naming a
    machine that has no unknown job."""
    from fleet.journal import Journal
    from fleet.types import JobState

    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        unknown = {row.machine.name.lower() for row in journal.jobs() if row.state == JobState.UNKNOWN}
    finally:
        journal.close()
    if not unknown:
        raise UsageError("--resolve-unknown: this run has no job whose outcome is unknown")
    stray = sorted(resolution.machines - unknown)
    if stray:
        raise UsageError(f"--resolve-unknown: no unknown job on {', '.join(stray[:5])} "
                         f"({plural(len(unknown), 'machine')} are unknown)")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("machines", nargs=-1)
@click.option("--approve", is_flag=True, help="Approve the wave gate the run is waiting at.")
@click.option("--resolve-unknown", type=click.Choice(["skip", "resend"]),
              help="Jobs whose outcome is unknown (run command gone, nothing shows whether it "
                   "ran), on MACHINE... or all: skip = never send again, resend = send once more.")
@event_options
@reconnect_options
@temporal_options
def resume(**kw: Any) -> None:
    """Continue the run in RUN_DIR where its journal says it stopped.

    Every job that may have been sent is looked up in ARM first (GET) and adopted if it exists;
    only a job that provably never started is sent. Finished jobs are not touched; waves,
    budgets and approvals continue from where they were. The playbook, inventory and
    variables must be unchanged (each job's request hash is checked).

    A canceled or interrupted run continues with the machines never started (machines the
    operator stopped in flight stay canceled: they may have run in part). A finished run is
    left as it is: resume says so and exits with the run's code.

    A job whose run command is gone while nothing shows whether it ran is `unknown`: it is
    never sent again on its own; say what to do with --resolve-unknown skip|resend [MACHINE...].
    """
    if kw.get("temporal"):  # RUN_DIR is a production run's id
        from fleet.commands.temporal import resume_temporal

        resume_temporal(kw["run_dir"], kw)
        return
    run_dir = Path(kw["run_dir"])
    if kw["machines"] and not kw["resolve_unknown"]:
        fail(UsageError("MACHINE arguments go with --resolve-unknown skip|resend"))
    resolution = Resolution(kw["resolve_unknown"], frozenset(m.lower() for m in kw["machines"])) \
        if kw["resolve_unknown"] else None
    meta = guarded(lambda: open_meta(run_dir))
    if resolution is not None:
        guarded(lambda: check_resolution(run_dir, resolution))
    finished = guarded(lambda: finished_status(run_dir, meta))
    if finished is not None:
        status, code = finished
        echo(f"run {meta.get('run_id', '?')} is finished ({status}, exit {code}): nothing to "
                   f"resume, nothing was changed. Report: {run_dir / 'report.html'}")
        echo(f"to redo the machines that did not succeed: fleet run … --limit @{run_dir / 'retry.txt'}")
        sys.exit(code)
    connection = guarded(lambda: reconnection(meta, kw, need_storage=True))
    plan = guarded(lambda: rebuild_plan(meta, connection))
    options = EngineOptions(
        max_output_bytes=int(meta.get("input_max_output_bytes") or EngineOptions().max_output_bytes),
        keep_run_commands=meta.get("input_keep") == "True",
    )
    echo(f"resuming run {plan.run_id} ({meta.get('status', 'unknown')} before)")
    record = run_async(
        lambda: execute(plan, connection, run_dir, options, kw, resume=True, approve=kw["approve"],
                        approver=terminal_approver(), handle_signals=True,
                        resolve_unknown=resolution)
    )
    sys.exit(record.exit_code)
