"""``fleet runs [DIR]``: the runs in a folder (id, playbook, status, counts, when, duration);
``fleet output RUN MACHINE``: one machine's kept output, from the run folder (no network)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded
from fleet.errors import RunFolderError, UsageError
from fleet.journal import Journal
from fleet.report.recap import plural
from fleet.report.text import duration_s, format_duration
from fleet.runlock import lock_holder
from fleet.termtext import clean

__all__ = ["output", "runs"]

_SHORT = {"succeeded": "ok", "failed": "failed", "timed_out": "timed out", "error": "error",
          "stuck": "stuck", "unreachable": "unreachable", "canceled": "canceled",
          "skipped": "skipped", "pending": "pending", "dispatched": "sent", "running": "running"}


def _summary(run_dir: Path) -> dict[str, Any] | None:
    """One run's line, from its journal; None when the folder holds no run."""
    if not (run_dir / "journal.sqlite").is_file():
        return None
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        meta = journal.meta()
        worst: dict[str, str] = {}
        for row in journal.jobs():
            if row.rollback:
                continue
            current = worst.get(row.machine.key)
            if current is None or current == "succeeded" or (current == "skipped" and row.state.value != "succeeded"):
                worst[row.machine.key] = row.state.value
    finally:
        journal.close()
    status = meta.get("status") or "unknown"
    if status == "running" and lock_holder(run_dir) is None:
        status = "interrupted"
    return {
        "run_id": meta.get("run_id", run_dir.name),
        "folder": str(run_dir),
        "playbook": meta.get("playbook_name", ""),
        "status": status,
        "exit_code": int(meta["exit_code"]) if (meta.get("exit_code") or "").isdigit() else None,
        "machines": dict(Counter(worst.values())),
        "started_at": meta.get("started_at") or None,
        "finished_at": meta.get("finished_at") or None,
        "duration_s": duration_s(meta.get("started_at"), meta.get("finished_at")),
    }


@click.command()
@click.argument("folder", required=False, default="runs", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def runs(folder: str, fmt: str) -> None:
    """List the runs in FOLDER (default: runs/), newest first."""

    def collect() -> list[dict[str, Any]]:
        root = Path(folder)
        if not root.is_dir():
            raise RunFolderError(f"{root}: no such folder")
        found = [s for s in (_summary(p) for p in root.iterdir() if p.is_dir()) if s is not None]
        return sorted(found, key=lambda s: s["started_at"] or "", reverse=True)

    found = guarded(collect)
    if fmt == "json":
        echo(json.dumps(found, indent=2, sort_keys=True))
        return
    if not found:
        echo(f"no runs in {folder}")
        return
    echo(f"{'run':<26} {'status':<12} {'when':<17} {'took':>6}  machines")
    for item in found:
        when = (item["started_at"] or "")[:16].replace("T", " ")
        took = format_duration(item["duration_s"]) if item["finished_at"] else "-"
        counts = ", ".join(f"{n} {_SHORT.get(s, s)}" for s, n in sorted(item["machines"].items(),
                                                                          key=lambda i: -i[1]))
        echo(f"{item['run_id'][:26]:<26} {item['status'][:12]:<12} {when:<17} {took:>6}  {counts}")
        echo(f"  {item['playbook'][:76]}")
    echo(plural(len(found), "run"))


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("machine")
@click.option("--step", help="The step (default: the only one, else the first that did not succeed).")
@click.option("--stderr", is_flag=True, help="The error stream instead of the output.")
def output(run_dir: str, machine: str, step: str | None, stderr: bool) -> None:
    """Print MACHINE's output (or --stderr) kept in RUN_DIR. Raw bytes when piped; control
    characters shown as escapes on a terminal."""

    def find() -> Path:
        folder = Path(run_dir)
        if not (folder / "journal.sqlite").is_file():
            raise RunFolderError(f"{folder}: no journal here (is this a fleet run folder?)")
        journal = Journal.open(folder / "journal.sqlite")
        try:
            rows = [r for r in journal.jobs() if r.machine.name.lower() == machine.lower()
                    or r.machine.key == machine.lower()]
        finally:
            journal.close()
        if not rows:
            raise UsageError(f"{machine}: not a machine of this run")
        if step is not None:
            chosen = [r for r in rows if r.step == step]
            if not chosen:
                raise UsageError(f"{machine} has no step {step!r} (steps: "
                                 f"{', '.join(r.step for r in rows)})")
        else:
            main = [r for r in rows if not r.rollback]
            chosen = [r for r in main if r.state.value != "succeeded"][:1] or main[:1] or rows[:1]
        row = chosen[0]
        capture = row.error if stderr else row.output
        if capture.source == "none" or not capture.path:
            raise UsageError(f"{machine} {row.step}: no {'error' if stderr else 'output'} was kept "
                             f"({row.state.value}{': ' + row.reason if row.reason else ''})")
        return folder / capture.path

    path = guarded(find)
    data = guarded(path.read_bytes)
    if sys.stdout.isatty():
        click.echo(clean(data.decode("utf-8", "replace")), nl=False)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
