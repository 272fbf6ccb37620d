"""Issue #13 A4: resume continues the run that was started, or refuses in one line naming what
changed; and a run's final status never claims more than happened. Real ``fleet`` processes
against the simulator (in this process, so it outlives each CLI call)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import yaml

from fleet_sim import agent_profile as ap
from fleet_sim.server import SimServer
from tests.reliability.fault_matrix import AGENT, PROFILES, FaultProfile, sim_config
from tests.reliability.hostile_rows import _env
from tests.reliability.kill_resume import _fleet

MACHINES = 12
STEADY = dataclasses.replace(AGENT, defaults=dataclasses.replace(AGENT.defaults, failure_rate=0.0))
FAILING = dataclasses.replace(
    STEADY, rules=(ap.AgentRule(script=re.compile("."), overrides=(("exit_code", 3),)),))


def _playbook(path: Path, **rollout: Any) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "resume inputs", "hosts": "all", "script": "echo hello", "timeout": "10m",
        "rollout": {"waves": [1, 4, "100%"], **rollout},
    }))
    return path


def _report(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "report.json").read_text())  # type: ignore[no-any-return]


def _stderr(log: Path) -> str:
    return log.read_text()


async def _run(sim: SimServer, tmp: Path, playbook: Path, *extra: str) -> tuple[int, Path, Path]:
    from fleet_sim.inventory_io import write_inventory

    inventory = tmp / "inventory.yaml"
    write_inventory(sim.machines, inventory)
    run_dir = tmp / "run"
    log = tmp / "fleet.log"
    code = await _fleet(["run", str(playbook), "-i", str(inventory), "--yes", "--run-dir",
                         str(run_dir), *extra], _env(sim.arm_endpoint, None), log)
    return code, run_dir, inventory


async def test_edited_waves_or_removed_host_are_refused_then_the_original_resumes(tmp_path: Path) -> None:
    async with SimServer(sim_config(FaultProfile("steady", "", agent=STEADY), MACHINES)) as sim:
        env = _env(sim.arm_endpoint, None)
        playbook = _playbook(tmp_path / "playbook.yaml", approve=True)
        code, run_dir, inventory = await _run(sim, tmp_path, playbook)
        assert code == 3 and _report(run_dir)["run"]["status"] == "awaiting_approval"
        original_playbook, original_inventory = playbook.read_text(), inventory.read_text()
        before = dict(sim.stats()["executions"])

        # Waves edited at the gate: wave 2 would grow; refused, one line, exit 2.
        _playbook(playbook, approve=True, waves=[1, "100%"])
        log = tmp_path / "waves.log"
        assert await _fleet(["resume", str(run_dir), "--approve"], env, log) == 2
        line = _stderr(log).strip().splitlines()[-1]
        assert "waves changed" in line and "start a new run" in line, line

        # A pending host removed from the inventory: refused, naming it (not pending forever).
        playbook.write_text(original_playbook)
        doc = yaml.safe_load(original_inventory)
        gone = list(doc["all"]["hosts"])[-1]
        del doc["all"]["hosts"][gone]
        for group in doc["all"]["children"].values():
            group["hosts"].pop(gone, None)
        inventory.write_text(yaml.safe_dump(doc))
        log = tmp_path / "host.log"
        assert await _fleet(["resume", str(run_dir), "--approve"], env, log) == 2
        line = _stderr(log).strip().splitlines()[-1]
        assert "no longer selected" in line and gone in line, line

        # A rollout key edited: refused, naming the key.
        inventory.write_text(original_inventory)
        _playbook(playbook, approve=True, max_failures="50%")
        log = tmp_path / "policy.log"
        assert await _fleet(["resume", str(run_dir), "--approve"], env, log) == 2
        line = _stderr(log).strip().splitlines()[-1]
        assert "rollout policy changed" in line and "max_failures" in line, line
        assert sim.stats()["executions"] == before  # nothing was sent by any refused resume

        # The original inputs: the run goes on, in the waves it was planned with.
        playbook.write_text(original_playbook)
        for _ in range(3):  # one approval per gate
            code = await _fleet(["resume", str(run_dir), "--approve"], env, tmp_path / "ok.log")
            if code != 3:
                break
        assert code == 0, _stderr(tmp_path / "ok.log")[-2000:]
        report = _report(run_dir)
        assert [w["machines"] for w in report["waves"]] == [1, 4, MACHINES - 5]
        assert all(v == 1 for v in sim.stats()["executions"].values())


async def test_raising_max_failures_cannot_rewrite_a_halted_run(tmp_path: Path) -> None:
    async with SimServer(sim_config(FaultProfile("failing", "", agent=FAILING), MACHINES)) as sim:
        env = _env(sim.arm_endpoint, None)
        playbook = _playbook(tmp_path / "playbook.yaml", max_failures=0)
        code, run_dir, _ = await _run(sim, tmp_path, playbook)
        assert code == 3 and _report(run_dir)["run"]["status"] == "halted"
        _playbook(playbook, max_failures="100%")
        # Refused (inputs changed) or left as it is (a halted run is finished): never rewritten.
        assert await _fleet(["resume", str(run_dir)], env, tmp_path / "r.log") in (2, 3)
        assert _report(run_dir)["run"]["status"] == "halted"
        assert sum(sim.stats()["executions"].values()) == 1


async def test_cancel_at_a_gate_then_approve_never_claims_success(tmp_path: Path) -> None:
    async with SimServer(sim_config(FaultProfile("steady", "", agent=STEADY), MACHINES)) as sim:
        env = _env(sim.arm_endpoint, None)
        playbook = _playbook(tmp_path / "playbook.yaml", approve=True)
        code, run_dir, _ = await _run(sim, tmp_path, playbook)
        assert code == 3
        assert await _fleet(["cancel", str(run_dir)], env, tmp_path / "c.log") == 0
        assert _report(run_dir)["run"]["status"] == "canceled"
        code = await _fleet(["resume", str(run_dir), "--approve"], env, tmp_path / "r.log")
        report = _report(run_dir)
        states = {row["state"] for row in report["rows"]}
        executions = sim.stats()["executions"]
        # Resume may continue the machines never started, or leave the run canceled; either
        # way the status says what happened, never "succeeded" over skipped machines.
        if report["run"]["status"] == "succeeded":
            assert states == {"succeeded"} and code == 0, (code, states)
            assert len(executions) == MACHINES and all(v == 1 for v in executions.values())
        else:
            assert code != 0 and states != {"succeeded"}, (code, report["run"]["status"], states)


async def test_cancel_on_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    async with SimServer(sim_config(PROFILES[0], MACHINES)) as sim:
        playbook = _playbook(tmp_path / "playbook.yaml", max_failures="100%")
        code, run_dir, _ = await _run(sim, tmp_path, playbook)
        before = (run_dir / "report.json").read_bytes()
        status = _report(run_dir)["run"]["status"]
        log = tmp_path / "c.log"
        assert await _fleet(["cancel", str(run_dir)], _env(sim.arm_endpoint, None), log) == 0
        assert "nothing to cancel" in log.read_text()
        assert (run_dir / "report.json").read_bytes() == before and status != "canceled"
        assert code in (0, 1)
