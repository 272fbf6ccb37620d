"""A job's journal row as a compact JSON object (shard results and shard progress), and back
into a journal. What a shard reports is exactly what the embedded journal would hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from fleet.journal import JobRow, Journal
from fleet.types import JobState, StreamCapture

__all__ = ["restore_rows", "row_to_json"]


def row_to_json(row: JobRow) -> dict[str, Any]:
    return {
        "key": row.job_key,
        "state": row.state.value,
        "exit_code": row.exit_code,
        "attempts": row.attempts,
        "polls": row.polls,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "reason": row.reason,
        "output": dataclasses.asdict(row.output),
        "error": dataclasses.asdict(row.error),
    }


def restore_rows(journal: Journal, rows: Iterable[dict[str, Any]], *, detail: str) -> set[str]:
    """Write finished rows into ``journal`` (same fields as the run that produced them). Their
    run commands count as not yet cleaned up: the engine's orphan sweep deletes them (a 404 is
    fine), so a crash between result and DELETE leaves nothing behind. Returns their keys."""
    known = {row.job_key for row in journal.jobs()}
    done = set()
    for row in rows:
        key = row["key"]
        state = JobState(row["state"])
        if key not in known or not state.terminal:
            continue
        journal.transition(
            key, state, detail,
            exit_code=row["exit_code"], attempts=row["attempts"], started_at=row["started_at"],
            ended_at=row["ended_at"], reason=row["reason"],
            output=StreamCapture(**row["output"]), error=StreamCapture(**row["error"]),
        )
        if row["polls"]:
            journal.bump(key, "polls", int(row["polls"]))
        done.add(key)
    return done
