"""``fleet sim start`` / ``fleet sim stop``: the simulator in the background, for a shell.

``start`` launches ``fleet sim serve`` as a detached child whose files all live in one folder
(a fresh temporary one unless ``--dir``): ``inventory.yaml``, ``ca.pem``, ``sim.json`` (the
ready line), ``sim.log`` and ``sim.pid``. It returns only once the simulator answers, and
prints ``export`` lines for the shell (``eval "$(fleet sim start …)"``). ``stop`` ends that
child by the PID it recorded, and only if that PID is still a ``fleet sim serve``.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fleet.errors import SimulatorError

__all__ = ["export_lines", "start_background", "stop_background"]

READY_FILE = "sim.json"
PID_FILE = "sim.pid"
LOG_FILE = "sim.log"
INVENTORY_FILE = "inventory.yaml"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


def _option_value(args: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def start_background(serve_args: Sequence[str], folder: Path | None) -> tuple[Path, dict[str, object]]:
    """Start ``fleet sim serve SERVE_ARGS`` detached; wait until it is ready. Returns the
    folder and the ready line (arm_endpoint, ca_file, storage_connection_string, ...)."""
    folder = Path(tempfile.mkdtemp(prefix="fleet-sim-")) if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    pid_path = folder / PID_FILE
    if pid_path.exists() and _serving(pid_path):
        raise SimulatorError(f"{folder}: a simulator is already running there (fleet sim stop --dir {folder})")
    ready = folder / READY_FILE
    ready.unlink(missing_ok=True)
    args = [*serve_args, "--write-inventory", str(folder / INVENTORY_FILE), "--ready-file", str(ready)]
    if "--tls" in serve_args and _option_value(serve_args, "--ca-file") is None:
        args += ["--ca-file", str(folder / "ca.pem")]
    with open(folder / LOG_FILE, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "fleet", "sim", "serve", *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    pid_path.write_text(f"{child.pid}\n", encoding="utf-8")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready.exists():
        if child.poll() is not None:
            pid_path.unlink(missing_ok=True)
            raise SimulatorError(f"the simulator exited before it was ready: {_log_tail(folder)}")
        if time.monotonic() > deadline:
            _terminate(child.pid, STOP_TIMEOUT_S)
            pid_path.unlink(missing_ok=True)
            raise SimulatorError(f"the simulator was not ready within {START_TIMEOUT_S:.0f}s: {_log_tail(folder)}")
        time.sleep(0.05)  # a child process's readiness: polling its ready file is the interface
    data = json.loads(ready.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return folder, data


def export_lines(folder: Path, ready: dict[str, object], time_scale: float | None) -> str:
    """``export`` lines a POSIX shell can ``eval``: what fleet needs to talk to this simulator."""
    values = {
        "FLEET_ARM_ENDPOINT": ready.get("arm_endpoint"),
        "FLEET_CA_FILE": ready.get("ca_file"),
        "FLEET_STORAGE_CONNECTION_STRING": ready.get("storage_connection_string"),
        "FLEET_CREDENTIAL": "dev",
        "FLEET_TIME_SCALE": None if time_scale in (None, 1.0) else f"{time_scale:g}",
        "FLEET_SIM_DIR": str(folder),
    }
    return "".join(
        f"export {name}={shlex.quote(str(value))}\n" for name, value in values.items() if value
    )


def stop_background(folder: Path) -> int | None:
    """Stop the simulator ``start`` left in ``folder``; the PID it stopped, or None if none ran."""
    pid_path = folder / PID_FILE
    if not pid_path.exists():
        return None
    pid = int(pid_path.read_text(encoding="utf-8").strip() or 0)
    if pid <= 0 or not _serving(pid_path):
        pid_path.unlink(missing_ok=True)
        return None
    _terminate(pid, STOP_TIMEOUT_S)
    pid_path.unlink(missing_ok=True)
    return pid


def _serving(pid_path: Path) -> bool:
    """Is the PID in ``pid_path`` alive and still a ``fleet sim serve`` (not a reused PID)?"""
    try:
        pid = int(pid_path.read_text(encoding="utf-8").strip() or 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return False
    return b"sim" in cmdline and b"serve" in cmdline


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:  # not our child (started by an earlier `fleet sim start`)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    raise SimulatorError(f"the simulator (pid {pid}) did not stop within {timeout_s:.0f}s")


def _log_tail(folder: Path) -> str:
    try:
        lines = (folder / LOG_FILE).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-3:]) or "(empty log)"
