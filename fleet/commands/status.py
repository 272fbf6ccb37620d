"""``fleet status RUN_DIR``: a run's progress from its journal, while it runs or after."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded
from fleet.commands.options import TEXT_OR_JSON
from fleet.commands.temporal import temporal_options
from fleet.journal import Journal
from fleet.report.recap import plural
from fleet.runlock import lock_holder
from fleet.types import JobState

__all__ = ["status"]


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@TEXT_OR_JSON
@temporal_options
def status(run_dir: str, fmt: str, **kw: Any) -> None:
    """Show the progress of the run in RUN_DIR (works while it is running). With --temporal,
    RUN_DIR is the run id of a production-mode run."""
    if kw.get("temporal"):
        from fleet.commands.temporal import status_temporal

        status_temporal(run_dir, kw, fmt)
        return
    data = guarded(lambda: _status(Path(run_dir)))
    if fmt == "json":
        echo(json.dumps(data, indent=2, sort_keys=True))
        return
    echo(f"run {data['run_id']}: {data['status']}"
               + (f" (runner alive: {data['runner']})" if data["runner"] else ""))
    echo(f"  playbook {data['playbook']!r}, started {data['started_at']} by {data['principal']}")
    machines = data["machines"]
    echo("  machines: " + ", ".join(f"{n} {s}" for s, n in sorted(machines.items())))
    for wave in data["waves"]:
        name = "rollback" if wave["wave"] < 0 else f"wave {wave['wave'] + 1} [{wave['label']}]"
        echo(f"  {name}: {wave['state']}, {plural(wave['machines'], 'machine')}")
    if data["awaiting_approval"]:
        echo(f"  waiting for approval after wave {int(data['awaiting_approval']) + 1}: "
                   f"fleet resume {run_dir} --approve")
    for problem in data["problems"][:20]:
        echo(f"  {problem['machine']} {problem['step']}: {problem['state']}"
                   + (f" ({problem['reason']})" if problem["reason"] else ""))
    if len(data["problems"]) > 20:
        echo(f"  … and {len(data['problems']) - 20} more")


def _status(run_dir: Path) -> dict[str, Any]:
    from fleet.commands.runfolder import open_meta

    meta = open_meta(run_dir)
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        rows = list(journal.jobs())
        waves = journal.waves()
    finally:
        journal.close()
    holder = lock_holder(run_dir)
    state = meta.get("status") or "unknown"
    if holder is None and state == "running":
        state = "interrupted (no runner alive: `fleet resume` continues it)"
    per_machine: dict[str, JobState] = {}
    for row in rows:
        if row.rollback:
            continue
        current = per_machine.get(row.machine.key)
        if current is None or current == JobState.SUCCEEDED or (
            current == JobState.SKIPPED and row.state != JobState.SUCCEEDED
        ):
            per_machine[row.machine.key] = row.state
    problems = [
        {"machine": r.machine.name, "step": r.step + (" (rollback)" if r.rollback else ""),
         "state": r.state.value, "reason": r.reason}
        for r in rows
        if r.state not in (JobState.SUCCEEDED, JobState.PENDING)
        and not (r.state == JobState.SKIPPED and r.rollback)
    ]
    return {
        "run_id": meta.get("run_id", ""),
        "status": state,
        "runner": holder,
        "playbook": meta.get("playbook_name", ""),
        "started_at": meta.get("started_at", ""),
        "principal": meta.get("principal", "unknown"),
        "machines": dict(Counter(s.value for s in per_machine.values())),
        "jobs": dict(Counter(r.state.value for r in rows)),
        "waves": [
            {"wave": w, "label": label, "machines": n, "state": s} for w, label, n, s, _a, _b in waves
        ],
        "awaiting_approval": meta.get("awaiting_approval") or None,
        "problems": problems,
    }
