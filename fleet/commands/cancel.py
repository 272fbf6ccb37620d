"""``fleet cancel RUN_DIR``: stop a run from another terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded, run_async
from fleet.commands.options import reconnect_options
from fleet.commands.runfolder import open_meta, reconnection
from fleet.commands.temporal import temporal_options
from fleet.errors import EXIT_FAILED
from fleet.journal import Journal, utc_now
from fleet.runlock import lock_holder

__all__ = ["cancel"]


def _cancelable(run_dir: Path, meta: dict[str, str]) -> bool:
    """Whether the run has anything left to cancel: a job not yet ended, or an approval gate
    it waits at. (Unknown jobs are not running as far as fleet knows: resolve them instead.)"""
    from fleet.types import JobState

    if meta.get("awaiting_approval"):
        return True
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        return any(row.state in (JobState.PENDING, JobState.DISPATCHED, JobState.RUNNING)
                   for row in journal.jobs())
    finally:
        journal.close()


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the runner has stopped its in-flight commands.")
@click.option("--timeout", "timeout_s", default=600, show_default=True, type=click.IntRange(1, 86_400),
              help="How long --wait waits (s, at most a day).")
@reconnect_options
@temporal_options
def cancel(**kw: Any) -> None:
    """Stop the run in RUN_DIR: launch nothing new and stop the commands in flight.

    If its runner is alive, it is asked to stop (it deletes its in-flight run commands, which
    stops them, and exits). If no runner is alive, this command stops them itself.
    """
    if kw.get("temporal"):  # RUN_DIR is a production run's id
        from fleet.commands.temporal import cancel_temporal

        cancel_temporal(kw["run_dir"], kw)
        return
    run_dir = Path(kw["run_dir"])
    meta = guarded(lambda: open_meta(run_dir))
    holder = lock_holder(run_dir)
    if holder is not None:
        journal = guarded(lambda: Journal.open(run_dir / "journal.sqlite"))
        journal.set_meta(cancel_requested=utc_now())
        journal.close()
        echo(f"cancel requested; the runner ({holder}) is stopping its in-flight commands")
        if kw["wait"]:
            deadline = time.monotonic() + kw["timeout_s"]
            while lock_holder(run_dir) is not None:
                if time.monotonic() > deadline:
                    echo("the runner has not stopped yet; `fleet status` shows progress", err=True)
                    sys.exit(EXIT_FAILED)
                time.sleep(0.5)
            echo("the runner has stopped")
        return
    if not guarded(lambda: _cancelable(run_dir, meta)):
        # A finished run is history: canceling it would rewrite what happened.
        click.echo(f"run {meta.get('run_id', '?')} is finished ({meta.get('status') or 'unknown'}, "
                   f"exit {meta.get('exit_code') or '?'}): nothing to cancel, nothing was changed")
        return
    from fleet.engine.cancel import cancel_offline

    connection = guarded(lambda: reconnection(meta, kw, need_storage=False))
    record = run_async(lambda: cancel_offline(run_dir, connection))
    echo(f"run {record.run_id} canceled; report: {run_dir / 'report.html'}")
