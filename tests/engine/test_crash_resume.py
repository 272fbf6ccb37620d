"""Crash safety, for real: the runner is SIGKILLed at named points (failpoints), resumed each
time, and at the end every machine ran exactly once and every result and output is there.

The simulator runs in its own process, so it outlives the runner it serves, as ARM would.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleet.journal import Journal
from fleet.types import JobState
from fleet_sim.azurite import Azurite

TIME_SCALE = "0.01"
# timeout 1h: 36 wall seconds (+ 1.2 s margin) at this scale. Generous on purpose: the blob
# writes to Azurite and a busy machine's scheduling are not time-scaled, and no script here
# hangs, so a long timeout costs nothing while a short one turns a slow machine into timeouts.
PLAYBOOK = """\
name: crash test
hosts: all
script: echo applied {{ machine.name }}
timeout: 1h
rollout:
  waves: [1, "10%", "100%"]
  max_concurrency: 40
"""

# Scripts that say "slow" run for 100 simulated seconds (1 s of wall time here).
PROFILE = """\
agent:
  rules:
    - match: {script: "slow"}
      duration_s: 100
"""


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    inventory = tmp_path / "inventory.yaml"
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "sim", "serve", "--machines", "300", "--seed", "11",
         "--time-scale", TIME_SCALE, "--write-inventory", str(inventory), "--profile", str(profile)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        yield first["arm_endpoint"], inventory
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        if process.stdout is not None:
            process.stdout.close()


def fleet(args: list[str], env: dict[str, str], failpoint: str | None) -> subprocess.CompletedProcess[str]:
    run_env = {**env, "FLEET_FAILPOINT": failpoint} if failpoint else env
    return subprocess.run(
        [sys.executable, "-m", "fleet", *args], env=run_env, capture_output=True, text=True, timeout=300,
    )


def sim_stats(endpoint: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"{endpoint}/_sim/stats", timeout=60) as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def crash_and_resume(tmp_path: Path, endpoint: str, inventory: Path, azurite: Azurite,
                     kill_points: list[str]) -> tuple[Path, subprocess.CompletedProcess[str], int]:
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK)
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "FLEET_ARM_ENDPOINT": endpoint,
        "FLEET_CREDENTIAL": "dev",
        "FLEET_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "FLEET_TIME_SCALE": TIME_SCALE,
    }
    first, *rest = kill_points
    result = fleet(["run", str(playbook), "-i", str(inventory), "--yes", "--run-dir", str(run_dir)],
                   env, first)
    kills = int(result.returncode == -signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL, (first, result.returncode, result.stderr[-2000:])
    for point in [*rest, None]:
        result = fleet(["resume", str(run_dir)], env, point)
        if point is not None and result.returncode == -signal.SIGKILL:
            kills += 1
        elif point is not None:
            # The run finished before reaching that point: nothing left to crash.
            assert result.returncode in (0, 4), result.stderr[-2000:]
            break
    return run_dir, result, kills


def assert_exactly_once_and_complete(run_dir: Path, endpoint: str) -> None:
    stats = sim_stats(endpoint)
    executions = {k.lower(): v for k, v in stats["executions"].items()}
    assert executions and all(v == 1 for v in executions.values()), {
        k: v for k, v in executions.items() if v != 1
    }
    report = json.loads((run_dir / "report.json").read_text())
    rows = report["rows"]
    assert len(rows) == 300
    terminal = {"succeeded", "failed", "timed_out", "canceled", "unreachable", "stuck", "error", "skipped"}
    assert all(row["state"] in terminal for row in rows), [r for r in rows if r["state"] not in terminal]
    succeeded = [r for r in rows if r["state"] == "succeeded"]
    unreachable = [r for r in rows if r["state"] == "unreachable"]
    assert len(succeeded) + len(unreachable) == 300, [r for r in rows if r["state"] not in ("succeeded", "unreachable")]
    assert len(succeeded) == stats["executions_total"]
    for row in succeeded:
        text = (run_dir / row["output"]["path"]).read_text()
        assert text.startswith(f"fleet-sim: machine={row['name']} ")
        script_line = text.splitlines()[1]
        # The name was interpolated into the script, quoted for sh or PowerShell.
        assert script_line.startswith("fleet-sim: script=echo applied ") and row["name"] in script_line


def test_sigkill_at_every_stage_then_resume(
    tmp_path: Path, simulator: tuple[str, Path], azurite: Azurite
) -> None:
    endpoint, inventory = simulator
    points = ["between_waves:1", "before_put:5", "after_put:20", "poll:100",
              "after_collect:40", "after_terminal:40"]
    run_dir, final, kills = crash_and_resume(tmp_path, endpoint, inventory, azurite, points)
    assert kills == len(points)
    assert final.returncode == 4, final.stdout[-3000:]  # some simulated machines are unreachable
    assert_exactly_once_and_complete(run_dir, endpoint)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_many_seeded_kill_points(
    tmp_path: Path, simulator: tuple[str, Path], azurite: Azurite, seed: int
) -> None:
    rng = random.Random(seed)
    names = ["before_put", "after_put", "poll", "after_collect", "after_terminal"]
    points = ["between_waves:1"] + [f"{rng.choice(names)}:{rng.randint(1, 60)}" for _ in range(5)]
    run_dir, final, _ = crash_and_resume(tmp_path, endpoint=simulator[0], inventory=simulator[1],
                                         azurite=azurite, kill_points=points)
    assert final.returncode == 4, final.stdout[-3000:]
    assert_exactly_once_and_complete(run_dir, simulator[0])


def read_until(process: subprocess.Popen[str], seen: list[str], done: Callable[[list[str]], bool]) -> None:
    """Read the runner's output (-vv prints every transition) until ``done`` says so."""
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if done(seen):
            return
    raise AssertionError("the runner ended early:\n" + "".join(seen[-30:]))


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_launching_and_resume_finishes(
    tmp_path: Path, simulator: tuple[str, Path], azurite: Azurite, presses: int
) -> None:
    endpoint, inventory = simulator
    playbook = tmp_path / "playbook.yaml"
    # Long scripts (100 simulated s = 1 s) so that Ctrl-C lands while machines are in flight.
    playbook.write_text(
        PLAYBOOK.replace("echo applied", "slow; echo applied").replace("max_concurrency: 40", "max_concurrency: 150")
    )
    run_dir = tmp_path / "run"
    env = {**os.environ, "FLEET_ARM_ENDPOINT": endpoint, "FLEET_CREDENTIAL": "dev",
           "FLEET_STORAGE_CONNECTION_STRING": azurite.connection_string, "FLEET_TIME_SCALE": TIME_SCALE}
    process = subprocess.Popen(
        [sys.executable, "-m", "fleet", "run", str(playbook), "-i", str(inventory), "--yes", "-vv",
         "--run-dir", str(run_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen: list[str] = []
    read_until(process, seen, lambda lines: sum(": running" in x for x in lines) >= 10)
    process.send_signal(signal.SIGINT)
    read_until(process, seen, lambda lines: "launching nothing new" in lines[-1])
    if presses == 2:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    out = "".join(seen) + out
    assert process.returncode == 130, (out[-2000:], err[-2000:])
    journal = Journal.open(run_dir / "journal.sqlite")
    states = [row.state for row in journal.jobs()]
    journal.close()
    assert JobState.PENDING in states  # the rest waits for `fleet resume`
    assert not {JobState.DISPATCHED, JobState.RUNNING} & set(states)  # nothing left in limbo
    if presses == 2:
        assert JobState.CANCELED in states  # in-flight jobs were stopped
    else:
        assert JobState.CANCELED not in states  # in-flight jobs were allowed to finish
    result = fleet(["resume", str(run_dir)], env, None)
    journal = Journal.open(run_dir / "journal.sqlite")
    final = [row.state for row in journal.jobs()]
    journal.close()
    if any(state.is_failure for state in final):
        assert result.returncode == 1, result.stdout[-2000:]
    elif presses == 2:  # the operator's own cancels: "canceled", never failures
        assert result.returncode == 130 and "status: canceled" in result.stdout, result.stdout[-2000:]
    else:
        assert result.returncode in (0, 4), result.stdout[-2000:]
    assert "halted" not in result.stdout
    executions = sim_stats(endpoint)["executions"]
    assert all(v == 1 for v in executions.values())
