"""Fault matrix rows with a crash: ``fleet run`` is SIGKILLed at a failpoint, ``fleet resume``
finishes the run, and the run folder is checked against the simulator's truth.

The simulator runs in this process (so it keeps executing while the runner is dead); the runner
and the resume are real ``fleet`` processes over loopback, with ``FLEET_TIME_SCALE`` matching
the simulator's time scale.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from fleet.errors import FleetError
from fleet.report.load import load_record
from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer
from fleet_sim.truth import truth_json
from tests.reliability.fault_matrix import (
    TIME_SCALE,
    FaultProfile,
    MatrixRow,
    check_run,
    sim_config,
)

__all__ = ["KILL_POINTS", "kill_point_for", "run_killed_profile"]

# Where each profile's runner dies, in turn: every failpoint gets used across the matrix.
KILL_POINTS = ("after_put", "before_put", "poll", "after_collect", "after_terminal", "between_waves")

PLAYBOOK = {
    "name": "fault matrix",
    "hosts": "all",
    "script": "echo fault-matrix",
    # 600 simulated s = 6 wall s (+ the 1.2 s margin): generous, because the agent's blob
    # writes to Azurite and a busy machine's scheduling are not time-scaled.
    "timeout": "10m",
    "rollout": {"waves": [1, "10%", "100%"], "max_failures": "100%"},
}


def kill_point_for(index: int, machines: int) -> str:
    """``name:N``: mid-run for each point (a third of the jobs in, or the first wave boundary)."""
    point = KILL_POINTS[index % len(KILL_POINTS)]
    if point == "between_waves":
        return f"{point}:1"
    if point == "poll":
        # Half as many polls as machines: on a busy machine most jobs have ended by their first
        # GET, so a run may poll each job only once, and "poll:<machines>" would be its very
        # last poll, reached or not by a hair.
        return f"{point}:{max(1, machines // 2)}"
    return f"{point}:{max(1, machines // 3)}"


async def _fleet(args: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleet", *args, env=env, stdout=out, stderr=out,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await process.wait()


async def run_killed_profile(
    profile: FaultProfile, *, index: int, machines: int, storage: str, work_dir: Path, seed: int = 1
) -> MatrixRow:
    """One row: run until the failpoint kills the runner, resume, check."""
    started = time.monotonic()
    folder = work_dir / f"kill-{profile.name}"
    folder.mkdir(parents=True)
    point = kill_point_for(index, machines)
    async with SimServer(sim_config(profile, machines, seed=seed)) as sim:
        inventory = folder / "inventory.yaml"
        write_inventory(sim.machines, inventory)
        playbook = folder / "playbook.yaml"
        playbook.write_text(yaml.safe_dump(PLAYBOOK))
        run_dir = folder / "run"
        env = {
            **os.environ,
            "FLEET_ARM_ENDPOINT": sim.arm_endpoint,
            "FLEET_CREDENTIAL": "dev",
            "FLEET_STORAGE_CONNECTION_STRING": storage,
            "FLEET_TIME_SCALE": str(TIME_SCALE),
        }
        log = folder / "fleet.log"
        first = await _fleet(
            ["run", str(playbook), "-i", str(inventory), "--yes", "--run-dir", str(run_dir),
             "--run-id", f"kill-{profile.name}"],
            {**env, "FLEET_FAILPOINT": point}, log,
        )  # fmt: skip
        resumed = await _fleet(["resume", str(run_dir)], env, log)
        elapsed = time.monotonic() - started
        stats = sim.stats()
        truth = truth_json(sim.state.launches)
        problems: list[str] = []
        if first != -9:
            problems.append(f"the runner was not killed at {point} (exit {first})")
        if resumed not in (0, 1, 4):
            problems.append(f"fleet resume exited {resumed}: {log.read_text()[-1500:]}")
        try:
            record = load_record(run_dir)
        except FleetError as error:  # no report: the row says why instead of crashing the table
            return MatrixRow(
                profile=f"{profile.name} + SIGKILL at {point}", machines=machines,
                double_executions=0, lost_outputs=0, explained_outputs=0, misclassified=1,
                run_time_s=round(elapsed, 1),
                problems=(*problems, f"no report: {error}", log.read_text()[-1500:]),
            )  # fmt: skip
        double, lost, explained, wrong, found = check_run(
            record, truth, run_dir, executions=stats["executions"]
        )
    states = Counter(str(r.state) for r in record.results if not r.rollback)
    return MatrixRow(
        profile=f"{profile.name} + SIGKILL at {point}",
        machines=machines,
        double_executions=double,
        lost_outputs=lost,
        explained_outputs=explained,
        misclassified=wrong + (1 if problems else 0),
        run_time_s=round(elapsed, 1),
        states=dict(sorted(states.items())),
        injected={"killed": 1 if first == -9 else 0, "429": int(stats["throttled"]),
                  **{k: int(v) for k, v in stats["faults"].items()}},
        problems=tuple(problems + found),
    )  # fmt: skip
