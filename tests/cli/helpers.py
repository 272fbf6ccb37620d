"""Real ``fleet`` processes against an in-process simulator (served from the test's event loop,
so the CLI must run as a child process awaited with asyncio)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 180.0


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def sim_env(sim: SimServer, *, storage: str | None = None, time_scale: float | None = None,
            **extra: str) -> dict[str, str]:
    """The environment a shell gets from ``fleet sim start``: FLEET_* for this simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(FLEET_ARM_ENDPOINT=sim.arm_endpoint, FLEET_CREDENTIAL="dev", NO_COLOR="1")
    if sim.ca_file:
        env["FLEET_CA_FILE"] = sim.ca_file
    if storage:
        env["FLEET_STORAGE_CONNECTION_STRING"] = storage
    scale = sim.config.time_scale if time_scale is None else time_scale
    if scale != 1.0:
        env["FLEET_TIME_SCALE"] = str(scale)
    env.update(extra)
    return env


def inventory(sim: SimServer, folder: Path) -> Path:
    path = folder / "inventory.yaml"
    write_inventory(sim.machines, path)
    return path


async def fleet(*args: str, env: dict[str, str], cwd: Path | None = None,
                stdin: bytes | None = None) -> Ran:
    """``python -m fleet ARGS`` as a child process; its output and exit code."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fleet", *args, env=env, cwd=cwd or ROOT,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), HANG_GUARD_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def playbook(folder: Path, *, hosts: str = "linux", script: str = "echo hello from $(hostname)",
             extra: str = "", name: str = "pb.yaml") -> Path:
    path = folder / name
    path.write_text(
        f"name: hello\nhosts: {hosts}\nos: linux\nscript: |\n  {script}\ntimeout: 5m\n{extra}",
        encoding="utf-8",
    )
    return path
