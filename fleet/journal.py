"""The run journal: one SQLite file (WAL) per run, the source of truth for what happened.

Every state transition of every job is written *before* the remote action it announces
(intent, then outcome), so after any crash the journal says, for every machine, what may
have been sent. Reports are rebuilt from it. Nothing secret is ever written here: request
bodies are stored only as a hash computed without secrets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fleet.errors import RunFolderError, RunStoppedError
from fleet.journal_rows import (
    ROWS_PER_FETCH,
    JobRow,
    column_values,
    job_key,
    job_row,
    utc_now,
    wave_state,
)
from fleet.types import JobState, MachineRef, WaveState

__all__ = ["SCHEMA_VERSION", "JobRow", "Journal", "job_key", "utc_now"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_key TEXT PRIMARY KEY,
    machine_json TEXT NOT NULL,
    step TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    wave INTEGER NOT NULL,
    rollback INTEGER NOT NULL DEFAULT 0,
    run_command_name TEXT NOT NULL,
    request_sha256 TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    exit_code INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    ended_at TEXT,
    reason TEXT,
    output_json TEXT,
    error_json TEXT,
    cleaned INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS waves (
    wave INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    machines INTEGER NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT
);
"""


class Journal:
    """A run's journal. Open with ``Journal.create`` (new run) or ``Journal.open`` (existing)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        # Poll counts and cleaned marks waiting for the next transaction (``count_poll``,
        # ``mark_cleaned``): statistics and a cleanup flag, never an intent or an outcome.
        self._pending_polls: dict[str, int] = {}
        self._pending_cleaned: list[str] = []

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, meta: Mapping[str, str]) -> Journal:
        if path.exists():
            raise RunFolderError(f"{path}: a journal already exists (use `fleet resume`)")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        journal = cls(path, cls._connect(path))
        with journal._db:
            journal._db.executescript(_SCHEMA)
            rows = {"schema_version": str(SCHEMA_VERSION), "created_at": utc_now(), **meta}
            journal._db.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", rows.items()
            )
        return journal

    @classmethod
    def open(cls, path: Path) -> Journal:
        if not path.is_file():
            raise RunFolderError(f"{path}: no journal here (is this a fleet run folder?)")
        try:
            journal = cls(path, cls._connect(path))
            version = int(journal.meta().get("schema_version", "0"))
        except (sqlite3.DatabaseError, ValueError) as error:
            raise RunFolderError(f"{path}: the journal is unreadable or corrupted ({error})") from error
        if version > SCHEMA_VERSION:
            raise RunFolderError(
                f"{path}: journal schema version {version} is newer than this fleet "
                f"understands ({SCHEMA_VERSION}); upgrade fleet"
            )
        return journal

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.isolation_level = "DEFERRED"
        return db

    def close(self) -> None:
        try:
            if self._pending_polls or self._pending_cleaned:
                with contextlib.suppress(RunStoppedError):
                    self.flush()  # counts and marks only: a full disk must not stop the close
        finally:
            self._db.close()

    def flush(self) -> None:
        """Write the poll counts still waiting (one transaction)."""
        with self._writing():
            pass

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction. Disk full or a read-only folder: it rolls back (the journal stays
        intact) and the run stops, resumable. Poll counts waiting ride along."""
        pending, self._pending_polls = self._pending_polls, {}
        cleaned, self._pending_cleaned = self._pending_cleaned, []
        try:
            with self._db:
                if pending:
                    self._db.executemany(
                        "UPDATE jobs SET polls = polls + ? WHERE job_key = ?",
                        [(count, key) for key, count in pending.items()],
                    )
                if cleaned:
                    self._db.executemany(
                        "UPDATE jobs SET cleaned = 1 WHERE job_key = ?", [(key,) for key in cleaned]
                    )
                yield
        except BaseException as error:
            for key, count in pending.items():  # rolled back: they wait for the next one
                self._pending_polls[key] = self._pending_polls.get(key, 0) + count
            self._pending_cleaned[:0] = cleaned
            if isinstance(error, sqlite3.OperationalError):
                raise RunStoppedError(
                    f"{self.path}: cannot write the journal ({error}); free space or fix "
                    "permissions, then `fleet resume`"
                ) from error
            raise

    # -- meta ------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, **values: str) -> None:
        with self._writing():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items()
            )

    # -- jobs ------------------------------------------------------------------------------
    def add_jobs(self, rows: list[tuple[MachineRef, str, int, int, bool, str, str]]) -> None:
        """Register planned jobs: (machine, step, step_index, wave, rollback, name, request_sha)."""
        with self._writing():
            self._db.executemany(
                "INSERT OR IGNORE INTO jobs(job_key, machine_json, step, step_index, wave, rollback,"
                " run_command_name, request_sha256, state) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        job_key(m, step, rb),
                        json.dumps(asdict(m)),
                        step,
                        index,
                        wave,
                        int(rb),
                        name,
                        sha,
                        JobState.PENDING.value,
                    )
                    for m, step, index, wave, rb, name, sha in rows
                ],
            )

    def transition(self, key: str, state: JobState, detail: str | None = None, **fields: Any) -> None:
        """Record a transition and update the job row in one transaction (durable on return)."""
        columns = column_values({"state": state, **fields})
        assignments = ", ".join(f"{c} = ?" for c in columns)
        with self._writing():
            self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE job_key = ?", [*columns.values(), key]
            )
            self._db.execute(
                "INSERT INTO transitions(job_key, at, state, detail) VALUES (?, ?, ?, ?)",
                (key, utc_now(), state.value, detail),
            )

    def note(self, key: str, state: JobState, detail: str) -> None:
        """A transition row without a state change (e.g. "PUT sent"): the audit trail and
        ``fleet resume`` read it."""
        with self._writing():
            self._db.execute(
                "INSERT INTO transitions(job_key, at, state, detail) VALUES (?, ?, ?, ?)",
                (key, utc_now(), state.value, detail),
            )

    def noted(self, key: str, detail: str) -> bool:
        """Whether ``note(key, _, detail)`` was recorded."""
        row = self._db.execute(
            "SELECT 1 FROM transitions WHERE job_key = ? AND detail = ? LIMIT 1", (key, detail)
        ).fetchone()
        return row is not None

    def update_job(self, key: str, **fields: Any) -> None:
        """Update a job's fields without a state change (e.g. outputs kept after a timeout)."""
        columns = column_values(fields)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        with self._writing():
            self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE job_key = ?", [*columns.values(), key]
            )

    def count_poll(self, key: str) -> None:
        """Count one GET of a job. Not a transaction of its own: the count joins the next
        write (any job's) or ``flush``; every read of job rows flushes first. A crash loses at
        most the counts since the last write, which are statistics, never a decision: no
        intent or outcome waits on them."""
        self._pending_polls[key] = self._pending_polls.get(key, 0) + 1

    def begin_attempt(self, key: str, started_at: str) -> int:
        """The intent to send: attempts + 1 and state DISPATCHED, in one transaction, durable
        on return (before the PUT may leave). Returns the attempt's number."""
        with self._writing():
            row = self._db.execute(
                "UPDATE jobs SET attempts = attempts + 1, state = ?, started_at = ?"
                " WHERE job_key = ? RETURNING attempts",
                (JobState.DISPATCHED.value, started_at, key),
            ).fetchone()
            self._db.execute(
                "INSERT INTO transitions(job_key, at, state, detail) VALUES (?, ?, ?, ?)",
                (key, utc_now(), JobState.DISPATCHED.value, None),
            )
        return int(row[0]) if row is not None else 1

    def bump(self, key: str, column: str, by: int = 1) -> None:
        if column not in ("polls", "attempts"):
            raise ValueError(column)
        with self._writing():
            self._db.execute(f"UPDATE jobs SET {column} = {column} + ? WHERE job_key = ?", (by, key))

    def jobs(self) -> Iterator[JobRow]:
        return self._rows("", ())

    def _rows(self, where: str, args: tuple[Any, ...], *, flush: bool = True) -> Iterator[JobRow]:
        if flush and (self._pending_polls or self._pending_cleaned):
            self.flush()
        cursor = self._db.execute(
            "SELECT job_key, machine_json, step, step_index, wave, rollback, run_command_name, state,"
            " exit_code, attempts, polls, started_at, ended_at, reason, output_json, error_json"
            f" FROM jobs {where} ORDER BY rollback, wave, step_index, job_key",
            args,
        )
        # A batch at a time: at 10,000 machines the whole result as Python tuples doubled the
        # end-of-run peak while the run's record was built from it.
        while batch := cursor.fetchmany(ROWS_PER_FETCH):
            yield from (job_row(row) for row in batch)

    def request_hashes(self) -> dict[str, str]:
        rows = self._db.execute("SELECT job_key, request_sha256 FROM jobs").fetchall()
        return {key: sha for key, sha in rows}

    def job(self, key: str) -> JobRow | None:
        """One job's row, poll counts still waiting included (read without a transaction: a
        machine's row is read several times on its way, and each flush would be a commit)."""
        for row in self._rows("WHERE job_key = ?", (key,), flush=False):
            waiting = self._pending_polls.get(key, 0)
            return dataclasses.replace(row, polls=row.polls + waiting) if waiting else row
        return None

    def mark_cleaned(self, key: str) -> None:
        """The job's run command is deleted. Not a transaction of its own: it joins the next
        write (any job's), ``flush`` or ``close``. A crash can lose it; then ``fleet resume``
        deletes the run command once more, and a 404 there is fine: a lost mark costs a
        DELETE, never a run."""
        self._pending_cleaned.append(key)

    def uncleaned(self) -> list[JobRow]:
        """Terminal jobs that were dispatched but whose run command was not deleted yet."""
        return [
            row
            for row in self._rows("WHERE cleaned = 0 AND attempts > 0", ())
            if row.state.terminal
        ]

    def transitions(self, key: str | None = None) -> list[tuple[str, str, str, str | None]]:
        query = "SELECT job_key, at, state, detail FROM transitions"
        args: tuple[str, ...] = ()
        if key is not None:
            query, args = query + " WHERE job_key = ?", (key,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- waves -----------------------------------------------------------------------------
    def set_wave(
        self, wave: int, label: str, machines: int, state: WaveState, **times: str
    ) -> None:
        with self._writing():
            self._db.execute(
                "INSERT INTO waves(wave, label, machines, state) VALUES (?,?,?,?)"
                " ON CONFLICT(wave) DO UPDATE SET state = excluded.state",
                (wave, label, machines, state),
            )
            for column in ("started_at", "ended_at"):
                if column in times:
                    self._db.execute(
                        f"UPDATE waves SET {column} = ? WHERE wave = ?", (times[column], wave)
                    )

    def waves(self) -> list[tuple[int, str, int, WaveState, str | None, str | None]]:
        rows = self._db.execute(
            "SELECT wave, label, machines, state, started_at, ended_at FROM waves ORDER BY wave"
        ).fetchall()
        return [(r[0], r[1], r[2], wave_state(r[3]), r[4], r[5]) for r in rows]
