"""Start and stop Azurite (the Azure Storage emulator, from ``node_modules``) as a child process.

Started as ``node .../azurite/dist/src/blob/main.js`` (never through npx, which leaves an orphan
holding the port), on a free loopback port, in memory or in a folder, telemetry off, and
stopped by its own PID. The well-known development account and key are Azurite's public
defaults, not secrets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import SimulatorError

__all__ = ["AZURITE_ACCOUNT", "AZURITE_KEY", "Azurite", "find_azurite_main", "start_azurite"]

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same in every Azurite install; not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
MAIN_JS = Path("node_modules/azurite/dist/src/blob/main.js")


def find_azurite_main(start: Path | None = None) -> Path | None:
    """Find Azurite's blob entry point: ``$FLEET_AZURITE_MAIN``, or ``node_modules`` in the
    given folder, the current folder, the project root, or any parent of those."""
    env = os.environ.get("FLEET_AZURITE_MAIN")
    if env:
        return Path(env) if Path(env).is_file() else None
    roots = [start or Path.cwd(), Path(__file__).resolve().parents[1]]
    for root in roots:
        for folder in (root, *root.parents):
            candidate = folder / MAIN_JS
            if candidate.is_file():
                return candidate
    return None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM Azurite if its parent dies (e.g. killed with -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)


def start_azurite(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    location: Path | None = None,
    log: Path | None = None,
    ready_timeout_s: float = 30.0,
) -> Azurite:
    """Start Azurite's blob service and wait until it accepts connections.

    ``location=None`` keeps everything in memory. Raises ``SimulatorError`` when node or
    Azurite is missing or it does not come up."""
    node = shutil.which("node")
    main_js = find_azurite_main()
    if node is None or main_js is None:
        raise SimulatorError(
            "Azurite is not installed: run `npm ci` in the project folder (needs Node.js 20+)"
        )
    port = port or _free_port(host)
    args = [
        node,
        str(main_js),
        "--blobHost",
        host,
        "--blobPort",
        str(port),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
    ]
    if location is None:
        args += ["--inMemoryPersistence", "--extentMemoryLimit", "512"]
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    out = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=str(location) if location else None,
        start_new_session=True,
        preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
    )
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SimulatorError(f"Azurite exited with code {process.returncode} while starting")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return Azurite(process=process, host=host, port=port)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SimulatorError(f"Azurite did not accept connections on {host}:{port} in time")
