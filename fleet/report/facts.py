"""Facts every report format derives the same way from a ``RunRecord``: counts, the order
failures come first in, per-machine outcome, and per-row notes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fleet.types import JobResult, JobState, RunRecord

__all__ = [
    "BLOB_STAYED_EMPTY",
    "EXIT_MEANINGS",
    "NO_STORAGE_NOTE",
    "OUTPUT_MISSING_NOTE",
    "SEVERITY",
    "failures_first",
    "machine_outcomes",
    "output_missing",
    "reason_of",
    "row_notes",
    "state_counts",
]

# Worst first: the order rows and groups are shown in.
SEVERITY: tuple[JobState, ...] = (
    JobState.UNKNOWN,
    JobState.ERROR,
    JobState.STUCK,
    JobState.TIMED_OUT,
    JobState.FAILED,
    JobState.UNREACHABLE,
    JobState.CANCELED,
    JobState.RUNNING,
    JobState.DISPATCHED,
    JobState.PENDING,
    JobState.SKIPPED,
    JobState.SUCCEEDED,
)
_RANK = {state: i for i, state in enumerate(SEVERITY)}

EXIT_MEANINGS = {
    0: "all succeeded",
    1: "some machines failed or timed out",
    2: "bad input or usage",
    3: "halted by the rollout policy",
    4: "only unreachable machines kept it from succeeding",
    9: "a run-wide cause stopped it before anything was sent",
    130: "interrupted (resumable)",
}

NO_STORAGE_NOTE = "no storage: only instanceView's last 4 KB of output"
# How a row's reason begins when storage was used but the output blob stayed empty and the
# instanceView's tail was kept (fleet.engine.collect.VIEW_TAIL_NOTE): that is no "no storage".
BLOB_STAYED_EMPTY = "output blob stayed empty"
OUTPUT_MISSING_NOTE = "output missing: the command succeeded but its output blob is empty"


def output_missing(result: JobResult) -> bool:
    """A successful command whose output blob exists but is empty: the agent may not have been
    able to write it, so the report flags it rather than show success with nothing."""
    return (
        result.state is JobState.SUCCEEDED
        and result.output.source == "blob"
        and result.output.size_bytes == 0
    )


def reason_of(result: JobResult) -> str:
    """Why a job ended as it did, in a few words (the journal's reason, else its exit code)."""
    if result.reason:
        return " ".join(result.reason.split())
    if result.exit_code not in (None, 0):
        return f"exit code {result.exit_code}"
    return result.state.value


def row_notes(result: JobResult) -> tuple[str, ...]:
    """Notes that are true of this row: "no storage" only when a stream really came from the
    instanceView (an empty stderr known from it while storage was used is not that)."""
    notes: list[str] = []
    from_view = [c for c in (result.output, result.error) if c.source == "instance_view"]
    storage_used = BLOB_STAYED_EMPTY in (result.reason or "")
    if not storage_used and (
        result.output.source == "instance_view" or any(c.size_bytes for c in from_view)
    ):
        notes.append(NO_STORAGE_NOTE)
    if output_missing(result):
        notes.append(OUTPUT_MISSING_NOTE)
    if result.output.truncated or result.error.truncated:
        notes.append("output truncated")
    return tuple(notes)


def failures_first(results: Iterable[JobResult]) -> list[JobResult]:
    """Worst state first, then wave, machine name, step; stable for equal keys."""
    return sorted(
        results,
        key=lambda r: (_RANK.get(r.state, 0), r.wave, r.machine.name.lower(), r.rollback),
    )


def state_counts(results: Iterable[JobResult]) -> dict[str, int]:
    """Count per state, every state present (zeros included) in taxonomy order."""
    counts = Counter(r.state.value for r in results)
    return {state.value: counts.get(state.value, 0) for state in JobState}


def machine_outcomes(record: RunRecord) -> dict[str, JobState]:
    """One state per machine (by resource id, lower case): the worst of its non-rollback jobs,
    or of its rollback jobs if that is all it has."""
    worst: dict[str, JobState] = {}
    for result in record.results:
        key = result.machine.key
        if result.rollback and key in worst:
            continue
        current = worst.get(key)
        if current is None or _RANK[result.state] < _RANK[current]:
            worst[key] = result.state
    return worst
