"""Child processes of the benchmark: the simulator (``fleet sim serve``) and each contender.

Each child's CPU seconds and peak RSS come from ``os.wait4`` on that child alone, so the
simulator's cost and the client's cost are never mixed (a 2-core machine shared with others
would make whole-machine figures meaningless).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["ChildUsage", "SimProcess", "run_child"]

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True, slots=True)
class ChildUsage:
    wall_s: float
    cpu_s: float  # user + system of this child (and its own waited-for children)
    peak_rss_bytes: int
    returncode: int
    # For a row of several processes (production mode): each one's (cpu_s, peak_rss_bytes),
    # the submitter first, then each worker.
    parts: tuple[tuple[float, int], ...] = ()


def _usage(pid: int, started: float) -> ChildUsage:
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux.
    return ChildUsage(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, code)


def run_child(
    argv: list[str], *, env: dict[str, str], log: IO[str], cwd: Path, timeout_s: float
) -> ChildUsage:
    """Run ``argv`` to its end; stdout and stderr go to ``log``. Killed after ``timeout_s``."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    deadline = started + timeout_s
    peak = 0
    while True:
        peak = max(peak, _own_peak_rss_bytes(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return ChildUsage(
                time.monotonic() - started,
                usage.ru_utime + usage.ru_stime,
                peak or usage.ru_maxrss * 1024,
                proc.returncode,
            )
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            usage_out = _usage(proc.pid, started)
            proc.returncode = usage_out.returncode
            return dataclasses.replace(usage_out, peak_rss_bytes=peak or usage_out.peak_rss_bytes)
        time.sleep(0.2)  # the harness only waits here; it measures nothing with this


def _own_peak_rss_bytes(pid: int) -> int:
    """The child's own peak RSS (VmHWM: its address space's high-water mark, sampled while it
    lives). Not ru_maxrss: on Linux a child's ru_maxrss starts from the RSS of the harness
    that forked it, and at N = 10,000 the harness itself peaks at ~470 MB while it prepares
    the run, which rows then reported as the client's peak. Missed: only what the child
    allocates in its last 0.2 s."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class SimProcess:
    """``fleet sim serve`` with Azurite and TLS, in its own process."""

    def __init__(
        self,
        *,
        machines: int,
        profile: Path,
        time_scale: float,
        seed: int,
        workdir: Path,
        subscriptions: int = 1,
    ) -> None:
        self.inventory = workdir / "inventory.yaml"
        self._log = open(workdir / "sim.log", "w", encoding="utf-8")
        argv = [
            PYTHON, "-m", "fleet", "sim", "serve",
            "--machines", str(machines), "--subscriptions", str(subscriptions), "--seed", str(seed),
            "--profile", str(profile), "--time-scale", repr(time_scale),
            "--tls", "--ca-file", str(workdir / "ca.pem"), "--storage", "azurite",
            "--page-size", "1000", "--write-inventory", str(self.inventory),
        ]  # fmt: skip
        self._started = time.monotonic()
        self._proc = subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            raise RuntimeError(f"the simulator did not start; see {workdir / 'sim.log'}")
        self.ready: dict[str, Any] = json.loads(line)
        self.arm_endpoint: str = self.ready["arm_endpoint"]
        self.ca_file: str = self.ready["ca_file"]
        self.storage: str = self.ready["storage_connection_string"]
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def _get(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.arm_endpoint + path, method=method)
        with urllib.request.urlopen(request, context=self._ssl, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/_sim/stats")
        return result

    def reset_stats(self) -> None:
        self._get("/_sim/reset-stats", method="POST")

    def stop(self) -> ChildUsage:
        """SIGTERM, then the simulator's own CPU and peak RSS (Azurite is its child: the
        simulator waits for it, so Azurite's CPU is included)."""
        self._proc.send_signal(signal.SIGTERM)
        try:
            usage = _usage(self._proc.pid, self._started)
        finally:
            self._log.close()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        self._proc.returncode = usage.returncode
        return usage
