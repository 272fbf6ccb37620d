"""The run's journal, record and reports rebuilt from the plan and every shard's rows: the
same files, with the same content, as the embedded mode writes from its own journal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fleet.engine.jobs import request_sha256
from fleet.engine.record import build_record, save_run_meta
from fleet.engine.rollback import NOT_A_TARGET
from fleet.engine.rollout import STOP_KINDS
from fleet.journal import Journal, job_key, utc_now
from fleet.plan.model import Plan
from fleet.production.model import ROLLBACK_WAVE, WaveSpec
from fleet.production.rows import restore_rows
from fleet.production.shards import shard_plan
from fleet.types import WAVE_STATES, JobState, RunRecord, one_of

__all__ = ["MAYBE_SENT", "assemble_run"]

# A shard row in one of these states names a job whose run command was (or may have been) sent.
MAYBE_SENT = frozenset({JobState.DISPATCHED.value, JobState.RUNNING.value})


def assemble_run(
    plan: Plan,
    shard_docs: Sequence[Mapping[str, Any]],
    run_dir: Path,
    *,
    wave_states: Mapping[str, str],
    skip_reasons: Mapping[str, str],
    breached: bool,
    breach_reason: str | None,
    stopped: str | None,
    arm_requests: int,
    meta: Mapping[str, str],
    started: Sequence[WaveSpec] = (),
) -> RunRecord:
    """Write ``run_dir/journal.sqlite`` and the reports; return the record. ``started``: the
    shards the workflow started; the unfinished jobs of one that left no result may have been
    sent (``unknown``), those of a shard never started were not (``skipped``)."""
    from fleet.report import write_reports

    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / "journal.sqlite"
    if path.exists():
        path.unlink()
    journal = Journal.create(path, {
        "run_id": plan.run_id, "playbook_name": plan.playbook.name,
        "playbook_path": plan.playbook.path, "playbook_sha256": plan.playbook.sha256,
        "mode": "temporal", **meta,
    })
    try:
        jobs = [*plan.jobs, *plan.rollback_jobs]
        journal.add_jobs([(j.machine, j.step, j.step_index, j.wave, j.rollback,
                           j.run_command_name, request_sha256(j)) for j in jobs])
        rows = [row for doc in shard_docs for row in doc.get("rows", ())]
        restore_rows(journal, rows, detail="from its shard's result")
        maybe_sent = {row["key"]: row for row in rows if row.get("state") in MAYBE_SENT}
        silent = _jobs_of_silent_shards(plan, shard_docs, started)
        canceled = stopped == "canceled"
        for job in jobs:
            row = journal.job(job_key(job.machine, job.step, job.rollback))
            if row is None or row.state.terminal:
                continue
            sent = maybe_sent.get(row.job_key)
            if job.rollback and sent is None and row.job_key not in silent:
                continue  # never called for (no breach): pending, as the embedded journal has it
            if sent is not None or row.job_key in silent:
                # Its shard sent it (or may have) and did not see it end or stop: it may have
                # run, may still run. Never "skipped" (never run): not retried, not resent.
                what = ("sent before the run " + ("was canceled" if canceled else "stopped")
                        if sent is not None else "its shard started and left no result")
                why = (f"unknown: {what}; not confirmed stopped: it may have run; check the "
                       "machine before running it again")
                journal.transition(row.job_key, JobState.UNKNOWN, why, reason=why,
                                   started_at=(sent or {}).get("started_at"),
                                   attempts=int((sent or {}).get("attempts") or 0))
                continue
            why = ("run canceled by the operator" if canceled
                   else skip_reasons.get(str(job.wave), "halted by the rollout policy"))
            journal.transition(row.job_key, JobState.SKIPPED, why, reason=why)
        by_wave: dict[int, list[Any]] = {}
        for row in journal.jobs():
            if not row.rollback:
                by_wave.setdefault(row.wave, []).append(row)
        for wave in plan.waves:
            wave_rows = by_wave.get(wave.index, [])
            starts = [r.started_at for r in wave_rows if r.started_at]
            ends = [r.ended_at for r in wave_rows if r.ended_at]
            times = {}
            if starts:
                times["started_at"] = min(starts)
            if ends:
                times["ended_at"] = max(ends)
            state = one_of(WAVE_STATES, wave_states.get(str(wave.index))) or "skipped"
            journal.set_wave(wave.index, wave.label, len(wave.machines), state, **times)
        rollback_state = one_of(WAVE_STATES, wave_states.get(str(ROLLBACK_WAVE)))
        if rollback_state is not None:
            chosen = {r.machine.key for r in journal.jobs() if r.rollback and r.state != JobState.PENDING
                      and r.reason != NOT_A_TARGET}
            journal.set_wave(ROLLBACK_WAVE, "rollback", len(chosen), rollback_state)
        notes = []
        if breached and breach_reason:
            notes.append(f"rollout policy breached: {breach_reason} ({plan.rollout.on_breach})")
        all_starts = sorted(r.started_at for r in journal.jobs() if r.started_at)
        journal.set_meta(finished_at=utc_now(), started_at=all_starts[0] if all_starts else utc_now())
        record = build_record(
            journal, breached=breached, on_breach=plan.rollout.on_breach,
            stopped=one_of(STOP_KINDS, stopped),
            arm_requests={"total": arm_requests}, notes=tuple(notes),
        )
        save_run_meta(journal, record)
    finally:
        journal.close()
    write_reports(run_dir, record)
    from fleet.engine.control import write_retry_file

    write_retry_file(run_dir, record)
    return record


def _jobs_of_silent_shards(plan: Plan, shard_docs: Sequence[Mapping[str, Any]],
                           started: Sequence[WaveSpec]) -> set[str]:
    """Job keys of the shards that were started and left no result."""
    reported = {str(doc.get("summary", {}).get("shard_id")) for doc in shard_docs}
    keys: set[str] = set()
    for wave in started:
        for shard in wave.shards:
            if shard.shard_id not in reported:
                part = shard_plan(plan, wave.index, shard)
                jobs = part.rollback_jobs if wave.index == ROLLBACK_WAVE else part.jobs
                keys.update(job_key(j.machine, j.step, j.rollback) for j in jobs)
    return keys
