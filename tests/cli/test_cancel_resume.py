"""Cancel and resume say what happened (real CLI processes, simulator, Azurite): the operator's
own cancels are never failures, a canceled run can be resumed, a finished run's resume changes
nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from pathlib import Path

from fleet.journal import Journal
from fleet.types import JobState
from fleet_sim.azurite import Azurite
from fleet_sim.config import load_profile
from fleet_sim.server import SimServer
from tests.cli.helpers import ROOT, fleet, inventory, playbook, sim_env
from tests.fixtures.sim import SimFactory

# Scripts that say "slow" run 100 simulated seconds (1 s of wall time at the tests' scale).
PROFILE = "agent:\n  rules:\n    - match: {script: slow}\n      duration_s: 100\n"
ROLLOUT = "rollout:\n  waves: [\"100%\"]\n  max_concurrency: 4\n  max_failures: 0\n"


async def _sim(sim_factory: SimFactory, tmp_path: Path) -> SimServer:
    profile_file = tmp_path / "profile.yaml"
    profile_file.write_text(PROFILE, encoding="utf-8")
    profile = load_profile(profile_file)
    behaviour = dataclasses.replace(profile.behaviour, lro_retry_after_s=0)
    return await sim_factory(machines=24, tls=True, profile=dataclasses.replace(profile, behaviour=behaviour))


def _states(run_dir: Path) -> list[tuple[JobState, str | None]]:
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        return [(row.state, row.reason) for row in journal.jobs()]
    finally:
        journal.close()


def _transitions(run_dir: Path) -> int:
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        return len(journal.transitions())
    finally:
        journal.close()


async def _start(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fleet", *args, env=env, cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _until(condition: object, what: str, timeout_s: float = 120.0) -> None:
    """Wait for a condition of the world (never a fixed sleep as synchronisation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _read_until(process: asyncio.subprocess.Process, text: str) -> str:
    assert process.stdout is not None
    seen = ""
    while text not in seen:
        line = await asyncio.wait_for(process.stdout.readline(), 120)
        assert line, f"the runner ended before printing {text!r}: {seen[-1500:]}"
        seen += line.decode(errors="replace")
    return seen


def _in_flight(sim: SimServer) -> int:
    return int(sim.stats()["executions_total"])


async def test_ctrl_c_twice_then_resume_never_counts_the_operators_cancels(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await _sim(sim_factory, tmp_path)
    env = sim_env(sim, storage=azurite.connection_string)
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, script="slow; echo done", extra=ROLLOUT)
    run_dir = tmp_path / "run"
    runner = await _start(["run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(run_dir)], env)
    await _until(lambda: _in_flight(sim) >= 2, "machines in flight")
    runner.send_signal(signal.SIGINT)
    seen = await _read_until(runner, "launching nothing new")  # signals do not queue: one at a time
    runner.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(runner.communicate(), 120)
    out = seen.encode() + out
    assert runner.returncode == 130, (out.decode()[-1500:], err.decode()[-1500:])
    states = _states(run_dir)
    canceled = [reason for state, reason in states if state == JobState.CANCELED]
    assert canceled and JobState.PENDING in {s for s, _ in states}
    assert set(canceled) == {"interrupted (stopped in flight)"}

    resumed = await fleet("resume", str(run_dir), env=env)
    # max_failures: 0, yet no halt: the operator's cancels are not failures
    assert "halted" not in resumed.out and "breached" not in resumed.both, resumed.both
    assert resumed.code == 130, resumed.both  # canceled (by the operator), never "failed"
    assert "status: canceled" in resumed.out and " failed" not in resumed.out.split("status:")[0]
    after = _states(run_dir)
    assert JobState.PENDING not in {s for s, _ in after}  # the rest ran
    assert sum(1 for s, _ in after if s == JobState.CANCELED) == len(canceled)  # not re-sent
    assert all(n == 1 for n in sim.stats()["executions"].values())


async def test_fleet_cancel_leaves_pending_resumable_and_a_finished_resume_changes_nothing(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await _sim(sim_factory, tmp_path)
    env = sim_env(sim, storage=azurite.connection_string)
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, script="slow; echo done", extra=ROLLOUT)
    run_dir = tmp_path / "run"
    runner = await _start(["run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(run_dir)], env)
    await _until(lambda: _in_flight(sim) >= 2, "machines in flight")
    canceled = await fleet("cancel", str(run_dir), env=env)
    assert canceled.code == 0, canceled.both
    await asyncio.wait_for(runner.communicate(), 120)
    assert runner.returncode == 130
    states = _states(run_dir)
    assert JobState.SKIPPED not in {s for s, _ in states}  # nothing skipped by a cancel
    pending = sum(1 for s, _ in states if s == JobState.PENDING)
    assert pending > 0

    status = await fleet("status", str(run_dir), env=env)
    assert "run " in status.out and ": canceled" in status.out.splitlines()[0]

    resumed = await fleet("resume", str(run_dir), env=env)
    assert resumed.code in (0, 4, 130), resumed.both
    after = _states(run_dir)
    assert JobState.PENDING not in {s for s, _ in after}
    assert sum(1 for s, _ in after if s == JobState.SUCCEEDED) >= pending
    executions = dict(sim.stats()["executions"])
    assert all(n == 1 for n in executions.values())

    transitions = _transitions(run_dir)
    again = await fleet("resume", str(run_dir), env=env)
    assert again.code == resumed.code
    assert "is finished" in again.out and "nothing was changed" in again.out
    assert "wave" not in again.out  # no replayed waves, no 'jobs 0/0'
    assert _transitions(run_dir) == transitions and dict(sim.stats()["executions"]) == executions
