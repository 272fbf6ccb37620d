"""Where sweeps are kept between runs: a folder of matrix JSON files plus a lock.

    HISTORY/
      lock                              held (flock) by the sweep that is running
      sweeps/<finished>--<run id>.json  one matrix per finished sweep (fleet.sweep/1)

A folder of plain JSON is easy to back up, to inspect, and to keep where the next run finds it
(a volume, a CI cache, an artifact). Files are written to a temporary name and renamed, so a
sweep killed mid-write leaves no half file. The lock is an OS advisory lock (``flock``), which the
OS releases when its holder dies: a crashed sweep never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from fleet.errors import FleetError, RunFolderError
from fleet.safeio import load_json, read_text
from fleet.sweep.matrix import Matrix, matrix_from_json, matrix_to_json

__all__ = ["EXIT_LOCKED", "HistoryLockedError", "HistoryStore", "load_matrix"]

EXIT_LOCKED = 8
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


# A sweep of 10,000 machines x 50 checks, details included, is a few tens of MB.
MAX_MATRIX_BYTES = 128 * 1024 * 1024


class HistoryLockedError(RunFolderError):
    """Another sweep holds the history lock (exit 8): this one did not start."""

    exit_code = EXIT_LOCKED


def load_matrix(path: Path) -> Matrix:
    text = read_text(path, max_bytes=MAX_MATRIX_BYTES, what="sweep matrix")
    data = load_json(text, file=str(path))
    return matrix_from_json(data, where=str(path))


class HistoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sweeps = root / "sweeps"

    @contextlib.contextmanager
    def locked(self, run_id: str) -> Iterator[None]:
        """Hold the history for one sweep; refuse at once (never wait) if another holds it."""
        try:
            self.sweeps.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise RunFolderError(f"{self.root}: cannot use the history folder: "
                                 f"{exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                holder = os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip()
                raise HistoryLockedError(
                    f"{self.root}: another sweep is still running ({holder or 'holder unknown'});"
                    " not starting, history left as it was") from exc
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}, run {run_id}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def entries(self) -> list[Path]:
        """Kept sweeps, oldest first (names start with the finish time, so order by name)."""
        if not self.sweeps.is_dir():
            return []
        return sorted(p for p in self.sweeps.glob("*.json") if not p.name.startswith("."))

    def latest(self) -> Matrix | None:
        entries = self.entries()
        return load_matrix(entries[-1]) if entries else None

    def find(self, ref: str) -> Path | None:
        """A kept sweep by run id (or unique prefix of its file name)."""
        matches = [p for p in self.entries()
                   if p.stem.endswith(f"--{ref}") or p.name.startswith(ref)]
        return matches[-1] if matches else None

    def save(self, matrix: Matrix) -> Path:
        stamp = _SAFE.sub("", (matrix.finished_at or "unfinished").replace(":", ""))
        path = self.sweeps / f"{stamp}--{_SAFE.sub('_', matrix.run_id)}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            self.sweeps.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(matrix_to_json(matrix), handle, indent=1)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise FleetError(f"{self.sweeps}: cannot keep this sweep in history: "
                             f"{exc.strerror or exc}") from exc
        return path
