"""The simulated Azure Connected Machine agent: executes run commands for the simulator's ARM side.

``Agent.start(request)`` returns a live :class:`Execution` at once and runs it on the event loop:
download the script if given by URI (Pending), wait the drawn start latency, then Running: create
(overwrite) the output and error append blobs through their SAS URIs, run the executor (modelled
by default, bash for Linux machines when the profile says ``executor: shell``) while streaming
both streams to the blobs, and end as Succeeded, Failed, TimedOut or Canceled. A blob write
failure is reported in ``executionMessage`` and ``statuses`` and never fails the script.

Determinism: each execution draws from ``random.Random`` seeded with (seed, machine id,
execution number on that machine), so the same inputs give the same durations, exit codes and
output. Secrets (run-as password, protected values) are kept only by the coroutine that needs
them and never reach output, instanceView, messages or ``repr``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from fleet.errors import SimulatorError
from fleet_sim.agent_profile import AgentProfile, Behaviour
from fleet_sim.blobwriter import AppendBlobWriter, StorageCounters, download_text, redact_url
from fleet_sim.executors import ModelledExecutor, Outcome, ScriptJob, ShellExecutor

__all__ = ["TAIL_BYTES", "Agent", "Execution", "ExecutionRequest"]

TAIL_BYTES = 4096  # instanceView keeps the last 4 KB of each stream (API.md §4 item 7)
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
_log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """What ARM hands the agent for one execution. Secrets are hidden from ``repr``."""

    machine_id: str
    machine_name: str
    os_type: str
    tags: Mapping[str, str]
    script: str | None
    script_uri: str | None
    command_id: str | None
    parameters: tuple[tuple[str, str], ...]
    protected_parameters: tuple[tuple[str, str], ...] = field(repr=False)
    run_as_user: str | None
    run_as_password: str | None = field(repr=False)
    timeout_s: int | None
    output_blob_uri: str | None = field(repr=False)  # carries a SAS signature
    error_blob_uri: str | None = field(repr=False)


class _Stream:
    """One output stream: its blob writer (if a URI was given) and the tail instanceView shows.

    Writes are coalesced: what the script prints is appended to the blob when a block's worth
    has gathered or ``flush_every_s`` (wall seconds) has passed since the last append, and at
    the end. A quiet script's whole output is then one append, as a real agent that uploads
    what it buffered at intervals would do it, and the test bed's storage stops being the
    benchmark's bottleneck (1,793 agents' writes failed with every append sent on its own)."""

    def __init__(self, writer: AppendBlobWriter | None, *, flush_every_s: float = 0.0,
                 block_bytes: int = 64 * 1024) -> None:
        self.writer = writer
        self.tail = bytearray()
        self.total_bytes = 0
        self._pending = bytearray()
        self._flush_every_s = flush_every_s
        self._block_bytes = block_bytes
        self._last_flush = asyncio.get_running_loop().time() if writer is not None else 0.0
        self._lock = asyncio.Lock()  # appends go out one at a time, in order
        self._timer: asyncio.Task[None] | None = None

    async def write(self, data: bytes) -> None:
        self.total_bytes += len(data)
        self.tail += data
        del self.tail[:-TAIL_BYTES]
        if self.writer is None:
            return
        self._pending += data
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._last_flush
        if len(self._pending) >= self._block_bytes or waited >= self._flush_every_s:
            await self.flush()
        elif self._timer is None:
            # A script that prints and then goes quiet: its output still reaches the blob
            # within flush_every_s, while it runs (not only at its next write or its end).
            self._timer = loop.create_task(self._flush_later(self._flush_every_s - waited))

    async def _flush_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if self.writer is None or not self._pending:
                return
            data, self._pending = bytes(self._pending), bytearray()
            self._last_flush = asyncio.get_running_loop().time()
            await self.writer.append(data)

    def close(self) -> None:
        """The execution ended: no flush may come later."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def text(self) -> str:
        return bytes(self.tail).decode("utf-8", errors="replace")


class _Sink:
    def __init__(self, out: _Stream, err: _Stream) -> None:
        self._out = out
        self._err = err

    async def stdout(self, data: bytes) -> None:
        await self._out.write(data)

    async def stderr(self, data: bytes) -> None:
        await self._err.write(data)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class Execution:
    """One live execution, owned by the agent. Read it with :meth:`instance_view`."""

    def __init__(self, clock: Clock) -> None:
        self.started = asyncio.Event()
        self.finished = asyncio.Event()
        self._clock = clock
        self._state = "Pending"
        self._message = ""
        self._exit_code: int | None = None
        self._start_time: datetime | None = None
        self._end_time: datetime | None = None
        self._out = _Stream(None)
        self._err = _Stream(None)
        self._task: asyncio.Task[None] | None = None

    @property
    def execution_state(self) -> str:
        return self._state

    @property
    def output_bytes(self) -> int:
        """Bytes the script wrote to stdout (whether or not the blob write succeeded)."""
        return self._out.total_bytes

    @property
    def error_bytes(self) -> int:
        return self._err.total_bytes

    def instance_view(self) -> dict[str, Any]:
        """A spec-shaped ``MachineRunCommandInstanceView``; ``exitCode``, ``startTime`` and
        ``endTime`` are present only once known (no exit code for TimedOut/Canceled)."""
        failures = [
            s.writer.failure for s in (self._out, self._err) if s.writer and s.writer.failure
        ]
        message = "; ".join(m for m in (self._message, *failures) if m)
        now = _iso(self._end_time or self._clock())
        view: dict[str, Any] = {
            "executionState": self._state,
            "executionMessage": message,
            "output": self._out.text(),
            "error": self._err.text(),
            "statuses": [
                {
                    "code": "BlobWriteFailed",
                    "level": "Warning",
                    "displayStatus": "Blob write failed",
                    "message": failure,
                    "time": now,
                }
                for failure in failures
            ],
        }
        if self._exit_code is not None:
            view["exitCode"] = self._exit_code
        if self._start_time is not None:
            view["startTime"] = _iso(self._start_time)
        if self._end_time is not None:
            view["endTime"] = _iso(self._end_time)
        return view

    def cancel(self) -> None:
        """Stop it (DELETE, or replaced by a new PUT): it ends as Canceled, a shell is killed."""
        if self._task is not None and not self.finished.is_set():
            self._task.cancel()

    def _running(self) -> None:
        self._state = "Running"
        self._start_time = self._clock()
        self.started.set()

    def _finish(self, outcome: Outcome) -> None:
        self._out.close()
        self._err.close()
        self._state = outcome.state
        self._exit_code = outcome.exit_code
        self._message = outcome.message
        self._end_time = self._clock()
        if self._start_time is None:
            self._start_time = self._end_time
        self.started.set()
        self.finished.set()


class Agent:
    """The agents of every simulated machine: one HTTP session, one profile, one seed."""

    def __init__(
        self,
        profile: AgentProfile,
        *,
        seed: int,
        time_scale: float = 1.0,
        clock: Clock = _utcnow,
        sleep: Sleep = asyncio.sleep,
        counters: StorageCounters | None = None,
    ) -> None:
        if not time_scale >= 0:
            raise SimulatorError(f"agent time_scale must be >= 0, got {time_scale!r}")
        self._profile = profile
        self._seed = seed
        self._time_scale = time_scale
        self._clock = clock
        self._sleep = sleep
        self._counters = counters
        self._counts: dict[str, int] = {}
        self._running: set[Execution] = set()
        self._session: aiohttp.ClientSession | None = None

    def start(self, request: ExecutionRequest) -> Execution:
        """Schedule one execution on the running loop and return it at once."""
        loop = asyncio.get_running_loop()
        key = request.machine_id.lower()
        number = self._counts.get(key, 0) + 1
        self._counts[key] = number
        rng = random.Random(f"{self._seed}\x00{key}\x00{number}")
        execution = Execution(self._clock)
        secrets = request.protected_parameters
        # The coroutine gets the request without secret values; the values travel separately.
        public = dataclasses.replace(
            request,
            protected_parameters=tuple((n, "") for n, _ in request.protected_parameters),
            run_as_password=None,
        )
        execution._task = loop.create_task(self._execute(execution, public, secrets, rng))
        self._running.add(execution)
        execution._task.add_done_callback(lambda _: self._done(execution))
        return execution

    def _done(self, execution: Execution) -> None:
        self._running.discard(execution)
        # A task cancelled before its first step never runs its own handler.
        if not execution.finished.is_set():
            execution._finish(Outcome("Canceled", None, "The execution was canceled."))

    async def aclose(self) -> None:
        """Cancel every running execution, wait for them to end, close the HTTP session."""
        tasks = [e._task for e in self._running if e._task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Thousands of executions write at once: a pool of 100 connections with a 60 s
            # total (pool wait included) made queued writes time out against a busy storage
            # emulator. The pool is larger, and only connecting and each read are timed.
            # Idle connections are dropped after 4 s, before Azurite's own keep-alive timeout
            # (5 s by default) closes them under a request about to reuse one.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=512, keepalive_timeout=4.0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60),
            )
        return self._session

    def _writer(
        self, uri: str | None, label: str, fail: bool, machine: str
    ) -> AppendBlobWriter | None:
        if uri is None:
            return None
        return AppendBlobWriter(
            self._http(),
            uri,
            label=label,
            block_bytes=self._profile.append_block_bytes,
            simulated_failure=fail,
            delay_s=self._profile.blob_latency_s * self._time_scale,
            sleep=self._sleep,
            machine=machine,
            counters=self._counters,
        )

    async def _execute(
        self,
        execution: Execution,
        request: ExecutionRequest,
        secrets: tuple[tuple[str, str], ...],
        rng: random.Random,
    ) -> None:
        try:
            script = request.script
            if script is None and request.script_uri:
                try:
                    script = await download_text(
                        self._http(), request.script_uri, max_bytes=MAX_SCRIPT_BYTES
                    )
                except ValueError as error:
                    execution._finish(Outcome("Failed", None, str(error)))
                    return
            match_text = script if script is not None else (request.command_id or "")
            behaviour = self._profile.resolve(request.machine_name, request.tags, match_text)
            draw = behaviour.draw(rng)
            await self._sleep(draw.start_latency_s * self._time_scale)
            execution._running()
            flush_s = self._profile.flush_every_s * self._time_scale
            block = self._profile.append_block_bytes
            execution._out = _Stream(
                self._writer(request.output_blob_uri, "output", draw.fail_output_blob,
                             request.machine_name),
                flush_every_s=flush_s, block_bytes=block,
            )
            execution._err = _Stream(
                self._writer(request.error_blob_uri, "error", draw.fail_error_blob,
                             request.machine_name),
                flush_every_s=flush_s, block_bytes=block,
            )
            await asyncio.gather(
                *(s.writer.create() for s in (execution._out, execution._err) if s.writer)
            )
            job = ScriptJob(
                machine_name=request.machine_name,
                os_type=request.os_type,
                script=script,
                script_uri=redact_url(request.script_uri) if request.script_uri else None,
                command_id=request.command_id,
                parameters=request.parameters,
                protected_names=tuple(n for n, _ in request.protected_parameters),
                run_as_user=request.run_as_user,
                draw=draw,
                timeout_s=float(request.timeout_s or self._profile.default_timeout_s),
                time_scale=self._time_scale,
            )
            sink = _Sink(execution._out, execution._err)
            if self._uses_shell(behaviour, request, script):
                outcome = await ShellExecutor().run(job, sink, secrets)
            else:
                outcome = await ModelledExecutor(self._sleep).run(job, sink, ())
            del secrets
            # What the script printed last is in the blobs before the agent reports the end.
            await asyncio.gather(execution._out.flush(), execution._err.flush())
            execution._finish(outcome)
        except asyncio.CancelledError:
            # Our own task, cancelled on purpose (cancel() or aclose()): that is the Canceled
            # state, not an error to propagate.
            execution._finish(Outcome("Canceled", None, "The execution was canceled."))
        except Exception as error:  # a simulator bug must still end the execution visibly
            # The type only: an exception's text could quote a SAS URL or a parameter value.
            _log.error(
                "simulated agent failed on %s: %s", request.machine_name, type(error).__name__
            )
            execution._finish(
                Outcome("Failed", None, f"Simulated agent error: {type(error).__name__}")
            )

    @staticmethod
    def _uses_shell(behaviour: Behaviour, request: ExecutionRequest, script: str | None) -> bool:
        # Windows machines and built-in command ids have no bash script to run: modelled.
        return (
            behaviour.executor == "shell"
            and request.os_type.lower() == "linux"
            and script is not None
        )
