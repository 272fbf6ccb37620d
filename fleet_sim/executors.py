"""What the simulated agent does with a script: model it (default) or run it for real with bash.

Both executors stream stdout/stderr to a :class:`Sink` (the agent's blob writers and 4 KB
tails) and return an :class:`Outcome`. Neither raises for a failing script: a failed machine is
data. Cancellation (``asyncio.CancelledError``) propagates after the shell's process group is
killed; the agent turns it into ``Canceled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fleet_sim.agent_profile import Draw

__all__ = [
    "ModelledExecutor",
    "Outcome",
    "ScriptJob",
    "ShellExecutor",
    "Sink",
    "modelled_output",
]

Sleep = Callable[[float], Awaitable[None]]
_READ_CHUNK_BYTES = 64 * 1024
_FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"
_REAP_WAIT_S = 5.0
_MODELLED_PIECES = 4
_MODELLED_PIECE_MIN_BYTES = 8192


class Sink(Protocol):
    async def stdout(self, data: bytes) -> None: ...
    async def stderr(self, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class ScriptJob:
    """One execution as an executor sees it. Holds no secret: protected parameters appear by
    name only (their values reach the shell executor separately, see ``ShellExecutor.run``)."""

    machine_name: str
    os_type: str
    script: str | None  # inline text, or the text downloaded from the script URI
    script_uri: str | None  # already without its query string (no SAS signature)
    command_id: str | None
    parameters: tuple[tuple[str, str], ...]
    protected_names: tuple[str, ...]
    run_as_user: str | None
    draw: Draw
    timeout_s: float  # simulated seconds
    time_scale: float


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # Succeeded | Failed | TimedOut
    exit_code: int | None
    message: str


def _show(value: str) -> str:
    """One-line rendering of untrusted text: a newline in a value must not forge a line."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _first_line(script: str | None) -> str:
    if not script:
        return ""
    return script.splitlines()[0] if script.splitlines() else ""


def _header(job: ScriptJob) -> str:
    lines = [
        f"fleet-sim: machine={_show(job.machine_name)} os={_show(job.os_type)}",
        f"fleet-sim: script={_show(_first_line(job.script))}"
        f" | scriptUri={_show(job.script_uri or '')} | commandId={_show(job.command_id or '')}",
    ]
    lines += [f"fleet-sim: param {_show(n)}={_show(v)}" for n, v in job.parameters]
    lines += [f"fleet-sim: protected {_show(n)}=***" for n in job.protected_names]
    if job.run_as_user:
        lines.append(f"fleet-sim: runAs={_show(job.run_as_user)}")
    return "".join(line + "\n" for line in lines)


def _filler(size: int) -> str:
    """Exactly ``size`` bytes of numbered ASCII lines ending in a newline."""
    if size <= 0:
        return ""
    lines = []
    total = 0
    number = 0
    while total < size:
        number += 1
        line = (
            f"fleet-sim: filler {number:08d} " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2 + "\n"
        )
        lines.append(line)
        total += len(line)
    text = "".join(lines)
    return text[: size - 1] + "\n"


def modelled_output(job: ScriptJob, *, timed_out: bool = False) -> tuple[str, str, str]:
    """The modelled executor's streams: ``(stdout_head, stdout_tail, stderr)``.

    ``stdout_head`` is written when the execution starts, ``stdout_tail`` (filler and the
    ``exit=`` line) and ``stderr`` when it ends. The whole stdout is at least
    ``draw.output_bytes`` bytes: filler makes up the difference exactly. A timed-out execution
    has only the head.
    """
    head = _header(job)
    if timed_out:
        return head, "", ""
    code = job.draw.exit_code
    exit_line = f"fleet-sim: exit={code}\n"
    filler = _filler(job.draw.output_bytes - len(head.encode()) - len(exit_line))
    stderr = "" if code == 0 else f"fleet-sim: simulated failure exit={code}\n"
    return head, filler + exit_line, stderr


def _finished(code: int) -> Outcome:
    if code == 0:
        return Outcome("Succeeded", 0, "")
    return Outcome("Failed", code, f"The script exited with code {code}.")


def _timed_out(job: ScriptJob) -> Outcome:
    return Outcome("TimedOut", None, f"The script timed out after {job.timeout_s:g} seconds.")


class ModelledExecutor:
    """Runs nothing: waits the drawn duration and writes :func:`modelled_output`."""

    def __init__(self, sleep: Sleep) -> None:
        self._sleep = sleep

    async def run(
        self, job: ScriptJob, sink: Sink, secrets: tuple[tuple[str, str], ...]
    ) -> Outcome:
        del secrets  # the modelled output shows protected names only
        hangs = job.draw.hang or job.draw.duration_s > job.timeout_s
        head, tail, stderr = modelled_output(job, timed_out=hangs)
        await sink.stdout(head.encode())
        if hangs:
            await self._sleep(job.timeout_s * job.time_scale)
            return _timed_out(job)
        # Long output arrives in pieces spread over the run, as a chatty script's would, so a
        # reader sees the blob grow while the execution is Running.
        data = tail.encode()
        pieces = _MODELLED_PIECES if len(data) > _MODELLED_PIECE_MIN_BYTES else 1
        step = -(-len(data) // pieces)
        for start in range(0, len(data), step):
            await self._sleep(job.draw.duration_s * job.time_scale / pieces)
            await sink.stdout(data[start : start + step])
        if stderr:
            await sink.stderr(stderr.encode())
        return _finished(job.draw.exit_code)


def _valid_env_name(name: str) -> bool:
    return bool(name) and "=" not in name and "\0" not in name


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Kill the script's process group and collect the shell. The wait is bounded because
    asyncio's ``wait()`` also waits for the pipes, which a child that left the group (setsid)
    could hold open for ever; such a child is the one thing this executor cannot stop."""
    _kill_group(process)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_REAP_WAIT_S):
            await asyncio.shield(process.wait())


async def _pump(
    stream: asyncio.StreamReader | None, write: Callable[[bytes], Awaitable[None]]
) -> None:
    if stream is None:
        return
    while chunk := await stream.read(_READ_CHUNK_BYTES):
        await write(chunk)


class ShellExecutor:
    """Runs a Linux machine's script with bash in a fresh temporary folder, as Arc does:
    named parameters (public and protected) become environment variables, nameless ones
    positional arguments (public first, then protected, each in order). Output is streamed to
    the sink as it comes. The timeout (simulated seconds times the time scale) and cancellation
    kill the whole process group, so background children die too."""

    def __init__(self, *, bash: str = "bash") -> None:
        self._bash = bash

    async def run(
        self, job: ScriptJob, sink: Sink, secrets: tuple[tuple[str, str], ...]
    ) -> Outcome:
        env = {"PATH": os.environ.get("PATH", _FALLBACK_PATH), "LANG": "C.UTF-8"}
        args: list[str] = []
        for name, value in (*job.parameters, *secrets):
            if "\0" in value or (name and not _valid_env_name(name)):
                return Outcome(
                    "Failed", None, f"Parameter {_show(name)!r} cannot be passed to a shell."
                )
            if name:
                env[name] = value
            else:
                args.append(value)
        del secrets
        with tempfile.TemporaryDirectory(prefix="fleet-sim-agent-") as folder:
            script = Path(folder) / "script.sh"
            script.write_text(job.script or "", encoding="utf-8")
            # HOME and TMPDIR in the folder: the script cannot litter the simulator's own home.
            env |= {"HOME": folder, "TMPDIR": folder}
            process = await asyncio.create_subprocess_exec(
                self._bash, str(script), *args,
                cwd=folder, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            del env, args
            try:
                async with asyncio.timeout(job.timeout_s * job.time_scale):
                    await asyncio.gather(
                        _pump(process.stdout, sink.stdout), _pump(process.stderr, sink.stderr)
                    )
                    code = await process.wait()
            except TimeoutError:
                return _timed_out(job)
            finally:
                # Also on cancellation: no script outlives its execution.
                await _reap(process)
        return _finished(code)
