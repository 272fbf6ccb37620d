"""Processes for production-mode tests: the simulator and `fleet worker`s, each stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TIME_SCALE = "0.01"


@contextmanager
def simulator(folder: Path, machines: int, *, seed: int = 11, profile: str = "",
              time_scale: str = TIME_SCALE) -> Iterator[tuple[str, Path]]:
    inventory = folder / f"inventory-{seed}.yaml"
    args = [sys.executable, "-m", "fleet", "sim", "serve", "--machines", str(machines), "--seed",
            str(seed), "--time-scale", time_scale, "--write-inventory", str(inventory)]
    if profile:
        (folder / f"profile-{seed}.yaml").write_text(profile)
        args += ["--profile", str(folder / f"profile-{seed}.yaml")]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        yield first["arm_endpoint"], inventory
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def sim_stats(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/_sim/stats", timeout=10) as answer:
        data: dict[str, Any] = json.load(answer)
        return data


def env_for(endpoint: str, storage: str, address: str, time_scale: str = TIME_SCALE,
            **extra: str) -> dict[str, str]:
    return {**os.environ, "FLEET_ARM_ENDPOINT": endpoint, "FLEET_CREDENTIAL": "dev",
            "FLEET_STORAGE_CONNECTION_STRING": storage, "FLEET_TIME_SCALE": time_scale,
            "FLEET_TEMPORAL": address, "FLEET_TEMPORAL_HEARTBEAT_TIMEOUT": "15", **extra}


def fleet(args: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout_s)


class Worker:
    """A `fleet worker` process; ready once it says so on stderr."""

    def __init__(self, env: dict[str, str], state_dir: Path, log: Path) -> None:
        self.log = log
        self._handle = open(log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fleet", "worker", "--state-dir", str(state_dir)],
            env=env, stdout=self._handle, stderr=self._handle, text=True)

    def wait_ready(self, timeout_s: float = 120) -> None:
        wait_for(lambda: "worker ready" in self.log.read_text(), timeout_s,
                 lambda: f"worker not ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._handle.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._handle.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float, why: Callable[[], str]) -> None:
    """Poll an observable condition (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(why())
        time.sleep(0.2)


def rows_of(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    report = json.loads((run_dir / "report.json").read_text())
    return {(r["name"], r["step"]): r for r in report["rows"]}


def comparable(row: dict[str, Any]) -> tuple[Any, ...]:
    """What must be equal between the two modes' reports (not times, polls or attempts)."""
    return (row["state"], row["exit_code"], row["wave"], row["output"]["sha256"],
            row["output"]["group_sha256"], row["output"]["excerpt"], row["reason"])
