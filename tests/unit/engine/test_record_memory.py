"""The run's record at 10,000 machines: what building it from the journal keeps in memory.

Every journal row decodes its own copy of values that repeat from row to row (subscription,
resource group, location, step, the digests of an empty stream and of equal outputs);
``build_record`` keeps one copy of each. Deterministic (tracemalloc, no clock, no timing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from fleet.engine.record import build_record
from fleet.journal import Journal, job_key
from fleet.types import JobState, MachineRef, RunRecord, StreamCapture
from tests.memory import traced_peak

ROWS = 10_000
# Measured at 10,000 rows (this test's rows): 17.3 MiB retained with a copy per row, 11.2 MiB
# with one copy of each repeated value.
RETAINED_BOUND_BYTES = 14 * 1024 * 1024


def _capture(text: str, name: str, stream: str) -> StreamCapture:
    data = text.encode()
    generic = text.replace(name, "<machine>").encode()
    return StreamCapture(
        source="blob", path=f"output/{name}/apply.{stream}", size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(), excerpt=text,
        group_sha256=hashlib.sha256(generic).hexdigest(),
    )


def _journal(path: Path) -> Journal:
    journal = Journal.create(path, {"run_id": "r1", "playbook_name": "patch"})
    machines = [
        MachineRef(f"00000000-0000-0000-0000-{i % 4:012d}", f"rg-{i % 40:02d}",
                   f"arc-lnx-{i:05d}", "westeurope", "linux")
        for i in range(ROWS)
    ]
    journal.add_jobs([(m, "apply", 0, 0, False, f"fleet-r1-apply-{i}", "0" * 64)
                      for i, m in enumerate(machines)])
    # The columns ``transition`` writes, in one transaction rather than 10,000 (seconds on a
    # busy machine): the same JSON as ``transition(..., output=..., error=...)``.
    with journal._db:
        journal._db.executemany(
            "UPDATE jobs SET state = ?, exit_code = 0, started_at = ?, ended_at = ?,"
            " output_json = ?, error_json = ? WHERE job_key = ?",
            [(JobState.SUCCEEDED.value, "2026-11-29T12:00:00.000Z", "2026-11-29T12:01:00.000Z",
              json.dumps(asdict(_capture(f"patched 3 packages on {m.name}\n", m.name, "out"))),
              json.dumps(asdict(_capture("", m.name, "err"))), job_key(m, "apply"))
             for m in machines],
        )
    return journal


def _build_from(path: str) -> Callable[[], RunRecord]:
    journal = _journal(Path(path))

    def build() -> RunRecord:
        try:
            return build_record(journal)
        finally:
            journal.close()

    return build


def test_the_record_keeps_one_copy_of_repeated_values(tmp_path: Path) -> None:
    # Measured in a fresh interpreter (tests/memory.py): another test's leftover thread or
    # garbage must not count. Pickling the record back keeps its shared objects shared.
    retained, _peak, record = traced_peak(_build_from, str(tmp_path / "journal.sqlite"))
    journal = Journal.open(tmp_path / "journal.sqlite")
    try:
        assert record.results == tuple(row.to_result() for row in journal.jobs())
    finally:
        journal.close()
    assert len(record.results) == ROWS and record.status == "succeeded"
    first, last = record.results[0], record.results[-1]
    assert first.machine.location is last.machine.location
    assert first.error.sha256 is last.error.sha256
    assert first.output.group_sha256 is last.output.group_sha256
    assert retained < RETAINED_BOUND_BYTES, f"{retained / 2**20:.1f} MiB"
