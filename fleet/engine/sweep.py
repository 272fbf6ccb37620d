"""One sweep end to end: lock history, run the plan through the engine, judge every machine's
output, compare with the previous sweep, write the matrix files, keep this sweep in history.

The engine is passed in as ``execute`` (``fleet sweep`` hands it ``fleet run``'s execution with
progress and recap; tests hand it ``execute_plan`` against the simulator), so this module knows
nothing about ARM or storage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import EXIT_INTERRUPTED
from fleet.plan.model import Plan
from fleet.plan.sweep import SweepPlan, build_matrix
from fleet.report.recap import plural
from fleet.sweep.drift import Drift, diff_matrices
from fleet.sweep.history import EXIT_LOCKED, HistoryStore
from fleet.sweep.matrix import Matrix
from fleet.sweep.model import Status
from fleet.sweep.writers import write_sweep_files
from fleet.types import RunRecord

__all__ = [
    "EXIT_COMPLIANT",
    "EXIT_DRIFT",
    "EXIT_LOCKED",
    "EXIT_NONCOMPLIANT",
    "EXIT_UNASSESSED",
    "SweepOutcome",
    "run_sweep",
    "summary_text",
    "sweep_exit_code",
]

EXIT_COMPLIANT = 0
EXIT_NONCOMPLIANT = 5
EXIT_DRIFT = 6
EXIT_UNASSESSED = 7
EXIT_MEANING = {
    EXIT_COMPLIANT: "compliant: every check passed on every machine",
    EXIT_NONCOMPLIANT: "non-compliant: some checks fail",
    EXIT_DRIFT: "new drift: checks that passed in the previous sweep fail now",
    EXIT_UNASSESSED: "unable to assess some machines (errors or no answer)",
    EXIT_INTERRUPTED: "interrupted",
}

Execute = Callable[[Plan], Awaitable[RunRecord]]


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    record: RunRecord
    matrix: Matrix
    drift: Drift | None
    exit_code: int
    files: dict[str, Path]
    kept_as: Path | None = None  # this sweep's file in history


def sweep_exit_code(record: RunRecord, matrix: Matrix, drift: Drift | None) -> int:
    """Most actionable first: interrupted, new failures, failures, unassessed, compliant."""
    if record.exit_code == EXIT_INTERRUPTED or record.status == "interrupted":
        return EXIT_INTERRUPTED
    if drift is not None and drift.newly_failing:
        return EXIT_DRIFT
    if not matrix.compliant:
        return EXIT_NONCOMPLIANT
    if matrix.unassessed_machines:
        return EXIT_UNASSESSED
    return EXIT_COMPLIANT


async def run_sweep(sweep: SweepPlan, *, execute: Execute, run_dir: Path,
                    history: HistoryStore | None = None) -> SweepOutcome:
    """Run ``sweep``; with ``history``, hold its lock throughout (a second sweep on the same
    history refuses to start instead of interleaving) and keep the result there."""
    lock = history.locked(sweep.plan.run_id) if history else contextlib.nullcontext()
    with lock:
        # Read the previous sweep first: a damaged history fails before any machine is touched.
        previous = history.latest() if history else None
        record = await execute(sweep.plan)
        matrix = build_matrix(sweep, record, run_dir)
        drift = diff_matrices(previous, matrix) if previous is not None else None
        code = sweep_exit_code(record, matrix, drift)
        files = write_sweep_files(run_dir, matrix, drift, code)
        kept = None
        if history is not None and code != EXIT_INTERRUPTED:
            kept = history.save(matrix)
    return SweepOutcome(record, matrix, drift, code, files, kept)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _more(count: int, shown: int, what: str) -> list[str]:
    """``  … and 54 more newly failing cells (see compliance.html)``, when the list was cut."""
    if count <= shown:
        return []
    return [f"  … and {plural(count - shown, 'more ' + what)} (compliance.html has them all)"]


def summary_text(outcome: SweepOutcome, *, limit: int = 10) -> str:
    """What the terminal shows after a sweep (and what a scheduler's log keeps)."""
    matrix, drift = outcome.matrix, outcome.drift
    counts = matrix.counts()
    lines = [f"compliance: {plural(len(matrix.machines), 'machine')} x "
             f"{plural(len(matrix.checks), 'check')}: "
             + ", ".join(f"{counts.get(s.value, 0)} {s.value}" for s in Status)]
    failing = [(c, matrix.pass_rate(c.id)) for c in matrix.checks]
    failing = [(c, r) for c, r in failing if r is not None and r < 1]
    failing.sort(key=lambda item: item[1] if item[1] is not None else 2.0)
    for check, rate in failing[:limit]:
        lines.append(f"  {check.id} [{check.severity}]: {_pct(rate)} pass")
    lines.extend(_more(len(failing), limit, "failing check"))
    unassessed = matrix.unassessed_machines
    if unassessed:
        lines.append(f"not fully assessed: {plural(len(unassessed), 'machine')}")
        for row in unassessed[:limit]:
            bad = next(c for c in row.cells if c.status in (Status.ERROR, Status.UNKNOWN))
            lines.append(f"  {row.name}: {bad.check_id} {bad.status.value}: {bad.detail}")
        lines.extend(_more(len(unassessed), limit, "machine"))
    if drift is None:
        lines.append("drift: no earlier sweep to compare with")
    else:
        lines.append(drift.summary())
        for change in drift.newly_failing[:limit]:
            lines.append(f"  newly failing: {change.machine} {change.check_id}: {change.detail}")
        lines.extend(_more(len(drift.newly_failing), limit, "newly failing cell"))
    for kind in ("html", "json", "csv", "junit"):
        if kind in outcome.files:
            lines.append(f"{kind}: {outcome.files[kind]}")
    if outcome.kept_as is not None:
        lines.append(f"history: {outcome.kept_as}")
    lines.append(f"exit {outcome.exit_code}: {EXIT_MEANING.get(outcome.exit_code, '')}")
    return "\n".join(lines)
