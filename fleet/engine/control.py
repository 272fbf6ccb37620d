"""Run control around the engine: Ctrl-C and SIGTERM, `fleet cancel` requests, who runs it,
and the retry file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from fleet.engine.rollout import Rollout
from fleet.errors import RunStoppedError
from fleet.journal import Journal
from fleet.report.recap import plural
from fleet.types import JobState, RunRecord

if TYPE_CHECKING:
    from fleet.arm.credentials import TokenProvider

__all__ = [
    "handle_interrupts", "open_private", "principal_of", "watch_cancel", "write_private",
    "write_retry_file",
]

CANCEL_CHECK_S = 1.0


def open_private(path: Path) -> TextIO:
    """Open a run-folder file for writing, readable by its owner only."""
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


def write_private(path: Path, text: str) -> None:
    """Write a run-folder file readable by its owner only."""
    with open_private(path) as handle:
        handle.write(text)


# Machines in these states may have run their command: a new run must not send it again.
MAY_HAVE_RUN = (JobState.UNKNOWN, JobState.DISPATCHED, JobState.RUNNING)


def write_retry_file(run_dir: Path, record: RunRecord) -> None:
    """``retry.txt``: the machines that did not succeed, for ``--limit @RUN_DIR/retry.txt``.
    Never a machine that may have run (unknown, or still in flight): following the file's
    advice must not run anything twice; those are named in a comment instead."""
    main = [r for r in record.results if not r.rollback]
    doubtful = sorted({r.machine.name for r in main if r.state in MAY_HAVE_RUN
                       or (r.state == JobState.SKIPPED and (r.reason or "").startswith("outcome unknown"))})
    failed = sorted({
        r.machine.name for r in main
        if r.state != JobState.SUCCEEDED
        and not (r.state == JobState.SKIPPED and (r.reason or "").startswith("when:"))
    } - set(doubtful))
    header = f"# machines of run {record.run_id} that did not succeed\n"
    if doubtful:
        header += (f"# not listed: {plural(len(doubtful), 'machine')} that may have run (unknown or in "
                   "flight); `fleet resume` this run folder first\n")
    body = "".join(f"{name}\n" for name in failed)
    write_private(run_dir / "retry.txt", header + body)


async def watch_cancel(journal: Journal, rollout: Rollout) -> None:
    """``fleet cancel`` from another terminal writes ``cancel_requested`` into the journal.
    The same beat checks that the run folder is still the one the run writes: deleted or
    replaced (its journal then lives on only in an unlinked file), the run stops at once,
    launching nothing new, and says why; nothing is recreated."""
    folder = journal.path.parent
    identity = _identity(folder, journal.path)
    while True:
        await asyncio.sleep(CANCEL_CHECK_S)
        if _identity(folder, journal.path) != identity:
            rollout.fatal = rollout.fatal or RunStoppedError(
                f"{folder}: the run folder was deleted or replaced while the run was running; "
                "stopped, launching nothing new (its journal is gone: check the machines that "
                "were in flight before running again)")
            rollout.stop("interrupted")
            return
        if journal.meta().get("cancel_requested"):
            rollout.stop("canceled")
            return


def _identity(folder: Path, journal_path: Path) -> tuple[int, int, int] | None:
    try:
        here, db = os.stat(folder), os.stat(journal_path)
    except OSError:
        return None
    return here.st_dev, here.st_ino, db.st_ino


@contextlib.contextmanager
def handle_interrupts(rollout: Rollout) -> Iterator[None]:
    """Ctrl-C once (or SIGTERM): stop launching, let in-flight jobs finish, exit resumable.
    Ctrl-C twice: also stop the in-flight jobs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    presses = Counter[str]()

    def on_signal(name: str) -> None:
        presses[name] += 1
        rollout.stop("interrupted", stop_in_flight=presses["SIGINT"] >= 2)

    loop.add_signal_handler(signal.SIGINT, on_signal, "SIGINT")
    loop.add_signal_handler(signal.SIGTERM, on_signal, "SIGTERM")
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)


async def principal_of(credential: TokenProvider) -> str:
    """Who is running this, for the audit trail: from the token's claims, never the token."""
    import base64

    try:
        token = await credential.get_token()
    except Exception:  # the run will fail on its first request with a proper error
        return "unknown"
    parts = token.split(".")
    if len(parts) != 3:
        return "dev" if credential.loopback_only else "unknown"
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return "unknown"
    for claim in ("upn", "unique_name", "preferred_username", "app_displayname", "appid", "oid"):
        if isinstance(claims.get(claim), str) and claims[claim]:
            return f"{claim}:{claims[claim]}"
    return "unknown"
