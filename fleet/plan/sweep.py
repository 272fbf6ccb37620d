"""Plan a sweep: the ordinary plan (one step, the compiled runner) plus what is needed to read
its results back (the checks and the nonce), and the matrix built from a finished run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.blobs import decode_output
from fleet.errors import PlaybookError
from fleet.inventory import Inventory
from fleet.plan.build import build_plan
from fleet.plan.model import Plan
from fleet.playbook import load_playbook
from fleet.sweep.evaluate import judge_machine
from fleet.sweep.matrix import MachineRow, Matrix, check_infos
from fleet.sweep.model import Check
from fleet.sweep.protocol import new_nonce
from fleet.types import JobResult, RunRecord

__all__ = ["SweepPlan", "build_matrix", "build_sweep"]

# Reading more than this of one machine's output cannot help: results are capped per check.
MAX_READ_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SweepPlan:
    plan: Plan
    checks: tuple[Check, ...]
    nonce: str


def build_sweep(*, playbook_path: Path, inventory: Inventory, limit: str | None,
                extra_vars: Mapping[str, Any], run_id: str, seed: int = 0,
                nonce: str | None = None) -> SweepPlan:
    """Plan a sweep playbook (one with ``checks:``). A random nonce unless one is given."""
    playbook = load_playbook(playbook_path)
    if not playbook.checks:
        raise PlaybookError("not a sweep: the playbook has no checks:", file=playbook.path,
                            field="checks", hint="use `fleet run` for playbooks with steps")
    nonce = nonce or new_nonce()
    plan = build_plan(playbook_path=playbook_path, inventory=inventory, limit=limit,
                      extra_vars=extra_vars, run_id=run_id, seed=seed, nonce=nonce)
    if plan.playbook.sha256 != playbook.sha256:
        raise PlaybookError("the playbook changed while it was being planned",
                            file=playbook.path)
    return SweepPlan(plan, playbook.checks, nonce)


def _read_output(run_dir: Path, job: JobResult) -> str | None:
    if job.output.path is None:
        return None
    try:
        with (run_dir / job.output.path).open("rb") as handle:  # relative to the run folder
            return decode_output(handle.read(MAX_READ_BYTES))
    except OSError:
        return None


def build_matrix(sweep: SweepPlan, record: RunRecord, run_dir: Path) -> Matrix:
    """Every planned machine x every check, from the run's results and collected outputs."""
    jobs = {r.machine.key: r for r in record.results if not r.rollback}
    rows = []
    for wave in sweep.plan.waves:
        for machine in wave.machines:
            job = jobs.get(machine.key)
            output = None if job is None else _read_output(run_dir, job)
            cells, notes = judge_machine(sweep.checks, machine.os_type, job, output, sweep.nonce)
            rows.append(MachineRow(machine.key, machine.name, machine.os_type, tuple(cells),
                                   notes))
    rows.sort(key=lambda row: (row.name.lower(), row.key))
    return Matrix(record.run_id, record.playbook_name, record.started_at, record.finished_at,
                  check_infos(sweep.checks), tuple(rows))
