from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from fleet.errors import RunFolderError
from fleet.journal import Journal, job_key
from fleet.types import JobState, MachineRef, StreamCapture

M = MachineRef("sub", "rg", "web1", "eastus", "linux")


def test_intent_then_outcome_is_recorded(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "run" / "journal.sqlite", {"run_id": "r1"})
    journal.add_jobs([(M, "apply", 0, 1, False, "fleet-r1-apply-1", "abc")])
    key = job_key(M, "apply")
    journal.bump(key, "attempts")
    journal.transition(key, JobState.DISPATCHED, started_at="t0")
    journal.transition(
        key, JobState.SUCCEEDED, exit_code=0, output=StreamCapture(source="blob", size_bytes=3)
    )
    journal.close()
    reopened = Journal.open(tmp_path / "run" / "journal.sqlite")
    (row,) = list(reopened.jobs())
    assert row.state == JobState.SUCCEEDED and row.attempts == 1 and row.output.size_bytes == 3
    assert [t[2] for t in reopened.transitions(key)] == ["dispatched", "succeeded"]
    assert reopened.meta()["run_id"] == "r1"
    mode = stat.S_IMODE((tmp_path / "run" / "journal.sqlite").stat().st_mode)
    assert mode == 0o600


def test_refuses_existing_newer_and_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.create(path, {}).close()
    with pytest.raises(RunFolderError, match="already exists"):
        Journal.create(path, {})
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(RunFolderError, match="newer"):
        Journal.open(path)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunFolderError, match="unreadable or corrupted"):
        Journal.open(bad)
    with pytest.raises(RunFolderError, match="no journal"):
        Journal.open(tmp_path / "missing.sqlite")
