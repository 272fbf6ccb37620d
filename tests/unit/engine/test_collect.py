"""Collection loses no output that exists: failed reads are retried, an empty blob that the
instanceView contradicts is read again, and the instanceView's tail is the last resort.
The store is a fake at the typed seam (``BlobReader``); the engine tests use Azurite."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleet.engine.collect import (
    AGENT_MESSAGE_MAX_CHARS,
    COLLECT_FAILED_NOTE,
    VIEW_TAIL_NOTE,
    BlobReader,
    CollectPolicy,
    OutputCollector,
    agent_blob_failure,
)
from fleet.errors import StorageError
from fleet.plan.model import Job
from fleet.types import MachineRef, StreamCapture

JOB = Job(
    machine=MachineRef("sub", "rg", "vm1"), step="apply", step_index=0, wave=0,
    run_command_name="rc", output_blob="o.out", error_blob="o.err", request={}, timeout_s=60,
)


@dataclass
class View:
    execution_state: str | None = "Succeeded"
    output: str | None = "hello\n"
    error: str | None = ""
    execution_message: str | None = ""


@dataclass
class ScriptedStore:
    """Answers each read of a blob with the next scripted outcome: bytes or an exception."""

    script: dict[str, list[bytes | Exception]]
    reads: list[str] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    async def download(
        self, blob_name: str, dest: Path, *, max_bytes: int, relative_to: Path | None = None,
        timeout_s: float = 60.0,
    ) -> StreamCapture:
        self.reads.append(blob_name)
        self.timeouts.append(timeout_s)
        outcomes = self.script[blob_name]
        outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(outcome)
        rel = dest.relative_to(relative_to).as_posix() if relative_to else str(dest)
        return StreamCapture(source="blob", path=rel, size_bytes=len(outcome),
                             sha256=hashlib.sha256(outcome).hexdigest())


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def now(self) -> float:
        return sum(self.slept)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def collector(store: BlobReader, tmp_path: Path, clock: Sleeps) -> OutputCollector:
    return OutputCollector(storage=store, run_dir=tmp_path, clock=clock, max_output_bytes=1 << 20,
                           policy=CollectPolicy(attempts=4, backoff_s=1.0, max_backoff_s=8.0))


async def test_failed_reads_are_retried_with_backoff(tmp_path: Path) -> None:
    timeout = StorageError("reading blob o.out failed: Timeout on reading data from socket")
    store = ScriptedStore({"o.out": [timeout, timeout, b"hello\n"]})
    clock = Sleeps()
    got = await collector(store, tmp_path, clock).collect(JOB, View(), tmp_path / "out")
    assert got.note is None and got.output.size_bytes == 6
    assert (tmp_path / got.output.path).read_bytes() == b"hello\n"  # type: ignore[operator]
    assert clock.slept == [1.0, 2.0] and store.reads == ["o.out"] * 3


async def test_an_empty_blob_the_instance_view_contradicts_is_read_again(tmp_path: Path) -> None:
    store = ScriptedStore({"o.out": [b"", b"", b"hello\n"]})
    got = await collector(store, tmp_path, Sleeps()).collect(JOB, View(), tmp_path / "out")
    assert got.note is None and got.output.source == "blob" and got.output.size_bytes == 6


async def test_a_blob_that_stays_empty_keeps_the_instance_view_tail_and_says_so(tmp_path: Path) -> None:
    store = ScriptedStore({"o.out": [b""]})
    got = await collector(store, tmp_path, Sleeps()).collect(JOB, View(output="tail\n"), tmp_path / "o")
    assert got.output.source == "instance_view" and got.output.size_bytes == 5
    assert got.note is not None and "instanceView" in got.note
    assert store.reads == ["o.out"] * 4


async def test_empty_is_empty_when_the_instance_view_agrees(tmp_path: Path) -> None:
    store = ScriptedStore({"o.out": [b""]})
    got = await collector(store, tmp_path, Sleeps()).collect(JOB, View(output=""), tmp_path / "o")
    assert got.note is None and got.output.size_bytes == 0 and store.reads == ["o.out"]


async def test_reads_that_never_succeed_are_marked_for_recollection(tmp_path: Path) -> None:
    store = ScriptedStore({"o.out": [StorageError("reading blob o.out failed (503)")]})
    clock = Sleeps()
    got = await collector(store, tmp_path, clock).collect(JOB, View(), tmp_path / "o")
    assert got.note is not None and got.note.startswith(COLLECT_FAILED_NOTE)
    assert got.output.source == "none" and len(store.reads) == 4
    assert clock.slept == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("err_view", ["", None])
async def test_stderr_read_only_when_the_instance_view_does_not_say_empty(
    tmp_path: Path, err_view: str | None
) -> None:
    store = ScriptedStore({"o.out": [b"hello\n"], "o.err": [b"warn\n"]})
    got = await collector(store, tmp_path, Sleeps()).collect(JOB, View(error=err_view), tmp_path / "o")
    assert ("o.err" in store.reads) is (err_view is None)
    assert got.error.source == "blob"


async def test_the_agents_word_on_a_failed_blob_write_is_quoted_redacted_and_bounded(
    tmp_path: Path
) -> None:
    message = ("Failed to write output blob https://acct.blob.core.windows.net/c/m/a1.out"
               "?sp=racw&sig=SECRETSIG: HTTP 503 ServerBusy " + "x" * 600)
    store = ScriptedStore({"o.out": [b""]})
    view = View(output="tail\n", execution_message=message)
    got = await collector(store, tmp_path, Sleeps()).collect(JOB, view, tmp_path / "o")
    assert got.note is not None and got.note.startswith(VIEW_TAIL_NOTE + "; the agent reported: ")
    quoted = got.note.split("the agent reported: ", 1)[1]
    assert "Failed to write output blob" in quoted and "HTTP 503" in quoted
    assert "SECRETSIG" not in got.note and "racw" not in got.note
    assert len(quoted) <= AGENT_MESSAGE_MAX_CHARS + 2  # the quotes


@pytest.mark.parametrize(("state", "message", "quoted"), [
    ("Succeeded", "Failed to write error blob /c/m/a1.err: timeout", True),
    ("Failed", "Blob write failed", True),
    ("TimedOut", "Failed to write output blob: timeout", False),  # already the row's reason
    ("Succeeded", "Script ran with warnings", False),
    ("Succeeded", "", False),
])
def test_only_a_finished_scripts_blob_failure_is_quoted(state: str, message: str, quoted: bool) -> None:
    said = agent_blob_failure(View(execution_state=state, execution_message=message))
    assert (said is not None) is quoted
    assert agent_blob_failure(None) is None


async def test_outputs_group_by_hash_with_the_machines_own_name_blanked(tmp_path: Path) -> None:
    store = ScriptedStore({"o.out": [b"hello from VM1\n"], "p.out": [b"hello from nobody\n"]})
    named = await collector(store, tmp_path, Sleeps()).collect(JOB, View(), tmp_path / "a")
    assert named.output.group_sha256 == hashlib.sha256(b"hello from <machine>\n").hexdigest()
    plain_job = Job(machine=JOB.machine, step="check", step_index=1, wave=0, run_command_name="rc2",
                    output_blob="p.out", error_blob="p.err", request={}, timeout_s=60)
    plain = await collector(store, tmp_path, Sleeps()).collect(plain_job, View(), tmp_path / "b")
    assert plain.output.group_sha256 == hashlib.sha256(b"hello from nobody\n").hexdigest()
    assert plain.error.group_sha256 == hashlib.sha256(b"").hexdigest()  # known empty: no read


async def test_each_read_is_bounded_by_the_policys_read_timeout(tmp_path: Path) -> None:
    store = ScriptedStore({"o.out": [StorageError("reading blob o.out failed: timeout"), b"hi\n"]})
    policy = CollectPolicy(attempts=3, backoff_s=0.5, read_timeout_s=7.5)
    got = await OutputCollector(storage=store, run_dir=tmp_path, clock=Sleeps(), max_output_bytes=100,
                                policy=policy).collect(JOB, View(), tmp_path / "o")
    assert got.note is None and store.timeouts == [7.5, 7.5]
