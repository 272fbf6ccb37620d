"""One runner per run folder: an exclusive ``flock`` on ``RUN_DIR/runner.lock``.

The kernel drops the lock when the process dies (even by SIGKILL), so a crashed runner never
leaves a stale lock behind; ``fleet resume`` can take it at once.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType

from fleet.errors import RunFolderError

__all__ = ["RunLock", "lock_holder"]

LOCK_NAME = "runner.lock"


def lock_holder(run_dir: Path) -> str | None:
    """Who holds the run folder's lock ("pid N on HOST"), or None when no runner is alive."""
    path = run_dir / LOCK_NAME
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            return handle.read().strip() or "another process"
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self._path = run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise RunFolderError(f"{self._path.parent}: cannot lock the run folder: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunFolderError(
                f"{self._path.parent}: another fleet runner is using this run folder ({holder}); "
                "wait for it, or stop it with `fleet cancel`"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
