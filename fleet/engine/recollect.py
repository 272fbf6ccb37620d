"""Fetch outputs a run could not download, after the fact (``fleet report --recollect``,
``fleet resume``). The agent's blobs outlive the run commands, so an output that timed out on
a busy runner can still be read later; the row's "could not be downloaded" note goes away
once it is.

Which rows: finished jobs that were sent (attempts > 0) whose collection failed. Their blob
names come from the run's ``plan.json``, so no inventory or playbook is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.clock import Clock
from fleet.engine.collect import COLLECT_FAILED_NOTE, BlobReader, CollectPolicy, OutputCollector
from fleet.errors import RunFolderError
from fleet.journal import JobRow, Journal, job_key
from fleet.plan.model import Job
from fleet.types import MachineRef

__all__ = [
    "RecollectOutcome",
    "jobs_from_plan_json",
    "needs_recollection",
    "recollect_for_plan",
    "recollect_rows",
    "recollect_run_folder",
]


@dataclass(frozen=True, slots=True)
class RecollectOutcome:
    tried: int = 0
    recovered: int = 0

    @property
    def still_missing(self) -> int:
        return self.tried - self.recovered


def needs_recollection(row: JobRow) -> bool:
    return row.state.terminal and row.attempts > 0 and COLLECT_FAILED_NOTE in (row.reason or "")


def _strip_note(reason: str | None) -> str | None:
    parts = [p for p in (reason or "").split("; ") if p and not p.startswith(COLLECT_FAILED_NOTE)]
    return "; ".join(parts) or None


async def recollect_rows(
    journal: Journal,
    jobs: dict[str, Job],
    folders: dict[str, Path],
    collector: OutputCollector,
) -> RecollectOutcome:
    """Re-read every row that needs it; the journal is updated row by row."""
    tried = recovered = 0
    for row in list(journal.jobs()):
        job = jobs.get(row.job_key)
        if job is None or not needs_recollection(row):
            continue
        tried += 1
        collected = await collector.collect(job, None, folders[row.job_key])
        failed = collected.note is not None and collected.note.startswith(COLLECT_FAILED_NOTE)
        if failed:
            continue
        reason = "; ".join(r for r in (_strip_note(row.reason), collected.note) if r) or None
        journal.update_job(row.job_key, output=collected.output, error=collected.error, reason=reason)
        recovered += 1
    return RecollectOutcome(tried=tried, recovered=recovered)


def _machine_from_id(resource_id: str) -> MachineRef:
    parts = resource_id.strip("/").split("/")
    try:
        return MachineRef(parts[1], parts[3], parts[7])
    except IndexError as error:
        raise RunFolderError(f"plan.json: not a machine resource id: {resource_id!r}") from error


def jobs_from_plan_json(run_dir: Path) -> tuple[dict[str, Job], dict[str, Path]]:
    """The run's jobs (what recollection needs of them: machine, step, blob names) and each
    job's output folder, from ``plan.json``."""
    path = run_dir / "plan.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        raw = [*data["jobs"], *data.get("rollback_jobs", [])]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunFolderError(f"{path}: cannot read the run's plan ({type(error).__name__})") from error
    jobs: dict[str, Job] = {}
    for item in raw:
        machine = _machine_from_id(str(item["machine_id"]))
        job = Job(
            machine=machine, step=str(item["step"]), step_index=int(item["step_index"]),
            wave=int(item["wave"]), run_command_name=str(item["run_command_name"]),
            output_blob=str(item["output_blob"]), error_blob=str(item["error_blob"]),
            request={}, timeout_s=int(item["timeout_s"]), rollback=bool(item["rollback"]),
        )
        jobs[job_key(machine, job.step, job.rollback)] = job
    return jobs, output_folders(run_dir, jobs)


async def recollect_run_folder(
    run_dir: Path, journal: Journal, storage: BlobReader, clock: Clock, max_output_bytes: int,
    policy: CollectPolicy = CollectPolicy(),  # noqa: B008 - frozen value
) -> RecollectOutcome:
    jobs, folders = jobs_from_plan_json(run_dir)
    collector = OutputCollector(storage=storage, run_dir=run_dir, clock=clock,
                                max_output_bytes=max_output_bytes, policy=policy)
    return await recollect_rows(journal, jobs, folders, collector)


async def recollect_for_plan(
    plan_jobs: list[Job], journal: Journal, run_dir: Path, collector: OutputCollector
) -> RecollectOutcome:
    """``fleet resume``: the same, with the jobs of the rebuilt plan."""
    jobs = {job_key(j.machine, j.step, j.rollback): j for j in plan_jobs}
    return await recollect_rows(journal, jobs, output_folders(run_dir, jobs), collector)


def output_folders(run_dir: Path, jobs: dict[str, Job]) -> dict[str, Path]:
    """Each job's output folder, named as the run named them (``session.output_dirs``)."""
    from fleet.engine.session import output_dirs

    dirs = output_dirs(list({j.machine.key: j.machine for j in jobs.values()}.values()))
    return {key: run_dir / "output" / dirs[job.machine.key] for key, job in jobs.items()}
