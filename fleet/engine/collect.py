"""Collect one job's output and error streams into the run folder, losing nothing that exists.

With storage, the agent's append blobs are the full output; ARM's instanceView holds only the
last 4 KB. Two things go wrong on a busy system, and neither may cost an output:

- a read fails (a socket timeout, a 5xx): it is tried again, with backoff, ``attempts`` times;
- the blob reads empty although the instanceView shows output: the agent reported the end
  before its last append was readable (plausible on real Azure too). The blob is read again
  (with backoff) until it shows the output; if it never does, the instanceView's tail is kept
  and the row says so. An empty blob is called empty only when the instanceView agrees.

What still could not be read is marked on the row (``output could not be downloaded``) and can
be fetched later with ``fleet report --recollect`` or ``fleet resume``: the blobs outlive the
run commands.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fleet.blobs import capture_from_text, decode_output, mask_kept_output
from fleet.clock import Clock
from fleet.engine.options import CollectPolicy
from fleet.errors import FleetError
from fleet.plan.model import Job
from fleet.redact import SecretMask, redact_text
from fleet.report.facts import BLOB_STAYED_EMPTY
from fleet.types import StreamCapture

__all__ = [
    "AGENT_MESSAGE_MAX_CHARS",
    "COLLECT_FAILED_NOTE",
    "VIEW_TAIL_NOTE",
    "BlobReader",
    "CollectPolicy",
    "Collected",
    "OutputCollector",
    "ViewLike",
    "agent_blob_failure",
]

COLLECT_FAILED_NOTE = "output could not be downloaded"
VIEW_TAIL_NOTE = (f"{BLOB_STAYED_EMPTY} although the agent reported output: kept the "
                  "instanceView's last 4 KB")
# How much of the agent's own word on a failed blob write a row quotes.
AGENT_MESSAGE_MAX_CHARS = 300
_BLOB_WORDS = re.compile(r"(?i)\bblob")


def agent_blob_failure(view: ViewLike | None) -> str | None:
    """The agent's ``executionMessage`` when it says a blob write failed (a partial or empty
    output blob is then explained by the agent itself), redacted and bounded; else None.
    Only for a script that ran to its end: a TimedOut or Canceled execution's message is
    already the row's reason."""
    if view is None or (view.execution_state or "").lower() not in ("succeeded", "failed"):
        return None
    message = " ".join((view.execution_message or "").split())
    if not message or not _BLOB_WORDS.search(message):
        return None
    message = redact_text(message)
    if len(message) > AGENT_MESSAGE_MAX_CHARS:
        message = message[: AGENT_MESSAGE_MAX_CHARS - 1] + "…"
    return f'the agent reported: "{message}"'


class BlobReader(Protocol):
    """The one thing collection needs of the run's storage (``fleet.blobs.protocol.OutputStore``
    has it): reading a blob."""

    async def download(
        self, blob_name: str, dest: Path, *, max_bytes: int, relative_to: Path | None = None,
        timeout_s: float = 60.0,
    ) -> StreamCapture: ...


class ViewLike(Protocol):
    """What collection reads of a run command's instanceView."""

    @property
    def execution_state(self) -> str | None: ...

    @property
    def output(self) -> str | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def execution_message(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Collected:
    output: StreamCapture
    error: StreamCapture
    output_text: str | None
    note: str | None


class OutputCollector:
    def __init__(
        self,
        *,
        storage: BlobReader | None,
        run_dir: Path,
        clock: Clock,
        max_output_bytes: int,
        policy: CollectPolicy = CollectPolicy(),  # noqa: B008 - frozen value
        mask: SecretMask | None = None,
    ) -> None:
        self._mask = mask if mask is not None else SecretMask()
        self._storage = storage
        self._run_dir = run_dir
        self._clock = clock
        self._cap = max_output_bytes
        self._policy = policy
        self._made: Path | None = None  # the output/ folder, once made

    async def collect(self, job: Job, view: ViewLike | None, folder: Path) -> Collected:
        # Never parents=True: a run folder deleted mid-run must fail here, not be recreated
        # (without output/, the machine's mkdir fails). output/ is made once per run.
        if self._made != folder.parent:
            folder.parent.mkdir(exist_ok=True, mode=0o700)  # output/: owner only
            self._made = folder.parent
        folder.mkdir(exist_ok=True, mode=0o700)
        step = job.step + (".rollback" if job.rollback else "")
        out_path, err_path = folder / f"{step}.out", folder / f"{step}.err"
        view_out = view.output if view is not None else None
        view_err = view.error if view is not None else None
        note = None
        if self._storage is not None:
            try:
                out = await self._read(job.output_blob, out_path, view_out)
                if view_err == "":
                    # ARM's instanceView holds stderr's tail: empty there means empty, so the
                    # error blob is not worth a request (the common case).
                    err = capture_from_text("", err_path, relative_to=self._run_dir)
                    err = dataclasses.replace(err, source="blob")
                else:
                    err = await self._read(job.error_blob, err_path, view_err)
            except FleetError as error:
                note = f"{COLLECT_FAILED_NOTE}: {error}"
                out, err = StreamCapture(), StreamCapture()
            else:
                if out.source == "instance_view":
                    note = VIEW_TAIL_NOTE
                elif out.truncated:
                    note = f"output truncated at {self._cap} bytes"
            said = agent_blob_failure(view)
            if said is not None:
                note = "; ".join(n for n in (note, said) if n)
        else:
            out = capture_from_text(view_out, out_path, relative_to=self._run_dir)
            err = capture_from_text(view_err, err_path, relative_to=self._run_dir)
            note = "no storage: only the last 4 KB of output (instanceView)"
        # Secrets masked in the kept files themselves, read once: digest and output patterns.
        out, out_bytes = mask_kept_output(out, self._run_dir, self._mask)
        err, err_bytes = mask_kept_output(err, self._run_dir, self._mask)
        out = self._with_group_digest(out, out_bytes, job)
        err = self._with_group_digest(err, err_bytes, job)
        text = None
        if out_bytes is not None and (job.success.output_must_match or job.success.output_must_not_match):
            text = decode_output(out_bytes)
        return Collected(out, err, text, note)

    async def _read(self, blob: str, dest: Path, view_text: str | None) -> StreamCapture:
        """Read one blob, retrying failed reads and an empty read the instanceView contradicts;
        the instanceView's tail is the last resort when the blob never shows the output."""
        assert self._storage is not None
        delay = self._policy.backoff_s
        last_error: FleetError | None = None
        capture: StreamCapture | None = None
        for attempt in range(max(1, self._policy.attempts)):
            if attempt:
                await self._clock.sleep(delay)
                delay = min(self._policy.max_backoff_s, delay * 2)
            try:
                capture = await self._storage.download(
                    blob, dest, max_bytes=self._cap, relative_to=self._run_dir,
                    timeout_s=self._policy.read_timeout_s,
                )
            except FleetError as error:
                last_error = error
                continue
            if capture.size_bytes > 0 or not view_text or self._cap == 0:
                return capture
            last_error = None  # read fine but empty while ARM shows output: not readable yet
        if capture is None:
            assert last_error is not None
            raise last_error
        if view_text:
            return capture_from_text(view_text, dest, relative_to=self._run_dir)
        return capture

    @staticmethod
    def _with_group_digest(capture: StreamCapture, data: bytes | None, job: Job) -> StreamCapture:
        if data is None:
            return capture
        name = job.machine.name.encode()
        if name.lower() not in data.lower():
            # The common case: the output does not name its machine, so it groups by its own
            # hash (already taken) and no pattern is compiled (re's cache holds 512: with
            # thousands of machines every job compiled its own).
            digest = capture.sha256 or hashlib.sha256(data).hexdigest()
        else:
            pattern = re.compile(re.escape(name), re.IGNORECASE)
            digest = hashlib.sha256(pattern.sub(b"<machine>", data)).hexdigest()
        return dataclasses.replace(capture, group_sha256=digest)
