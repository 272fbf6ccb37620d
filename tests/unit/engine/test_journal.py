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


def _on_disk(path: Path, key: str) -> tuple[int, int]:
    """(polls, cleaned) as another reader of the file sees them: what is durable."""
    db = sqlite3.connect(path)
    try:
        polls, cleaned = db.execute("SELECT polls, cleaned FROM jobs WHERE job_key = ?",
                                    (key,)).fetchone()
    finally:
        db.close()
    return int(polls), int(cleaned)


def test_reading_a_job_writes_nothing_and_counts_waiting_polls(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal.create(path, {})
    journal.add_jobs([(M, "apply", 0, 0, False, "rc", "sha")])
    key = job_key(M, "apply")
    journal.count_poll(key)
    journal.count_poll(key)
    row = journal.job(key)
    assert row is not None and row.polls == 2  # the waiting counts are part of the answer
    assert _on_disk(path, key) == (0, 0)  # ... and reading committed nothing
    journal.transition(key, JobState.RUNNING)  # the next write carries them
    assert _on_disk(path, key) == (2, 0)
    journal.close()


def test_a_cleaned_mark_joins_the_next_write_and_the_close(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal.create(path, {})
    other = MachineRef("sub", "rg", "web2", "eastus", "linux")
    journal.add_jobs([(M, "apply", 0, 0, False, "rc", "sha"), (other, "apply", 0, 0, False, "rc2", "s")])
    key, key2 = job_key(M, "apply"), job_key(other, "apply")
    for k in (key, key2):
        journal.bump(k, "attempts")
        journal.transition(k, JobState.SUCCEEDED)
    journal.mark_cleaned(key)
    assert _on_disk(path, key) == (0, 0)  # not a transaction of its own
    assert [r.job_key for r in journal.uncleaned()] == [key2]  # a reader of rows sees it
    assert _on_disk(path, key) == (0, 1)
    journal.mark_cleaned(key2)
    journal.close()
    assert _on_disk(path, key2) == (0, 1)


def test_a_lost_cleaned_mark_only_leaves_the_job_to_clean_again(tmp_path: Path) -> None:
    """A crash before the next write: the run command counts as not deleted, so `fleet
    resume` deletes it once more (a 404 is fine); the job's outcome is durable already."""
    path = tmp_path / "journal.sqlite"
    journal = Journal.create(path, {})
    journal.add_jobs([(M, "apply", 0, 0, False, "rc", "sha")])
    key = job_key(M, "apply")
    journal.bump(key, "attempts")
    journal.transition(key, JobState.SUCCEEDED, output=StreamCapture(source="blob", size_bytes=3))
    journal.mark_cleaned(key)
    journal._db.close()  # a crash: no flush, no close
    reopened = Journal.open(path)
    (row,) = reopened.uncleaned()
    assert row.state == JobState.SUCCEEDED and row.output == StreamCapture(source="blob", size_bytes=3)
    reopened.close()


def test_captures_round_trip_every_field(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path / "journal.sqlite", {})
    journal.add_jobs([(M, "apply", 0, 0, False, "rc", "sha")])
    key = job_key(M, "apply")
    capture = StreamCapture(source="blob", path="output/web1/apply.out", size_bytes=12,
                            sha256="ab" * 32, truncated=True, excerpt="é\nline", group_sha256="cd" * 32)
    journal.transition(key, JobState.SUCCEEDED, output=capture, error=StreamCapture())
    row = journal.job(key)
    assert row is not None and row.output == capture and row.error == StreamCapture()
    journal.close()
