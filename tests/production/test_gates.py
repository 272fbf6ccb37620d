"""The approval gate through `fleet resume --approve`, a secret that never reaches the workflow
history, and replay of recorded histories (a change that breaks running workflows fails here)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from fleet.production.devserver import DevServer
from fleet.production.workflow import RolloutWorkflow
from fleet_sim.azurite import Azurite
from tests.production.helpers import Worker, env_for, fleet, sim_stats, simulator, wait_for

DATA = Path(__file__).resolve().parents[1] / "data" / "temporal"
SECRET = "s3cr3t-Value-that-must-never-leak-7f1c"
PLAYBOOK = """\
name: gated
hosts: all
script: echo applied {{ machine.name }} on port $port
parameters:
  port: "443"
protected_parameters:
  token: '{{ secret("env:FLEET_TEST_TOKEN") }}'
timeout: 6h  # a hang guard: 216 s of wall time at time scale 0.01, so a loaded machine never times a script out
rollout:
  waves: [2, "100%"]
  approve: true
  max_failures: 1
"""


async def _history_json(address: str, run_id: str) -> str:
    from temporalio.client import Client

    client = await Client.connect(address)
    history = await client.get_workflow_handle(run_id).fetch_history()
    return json.dumps(history.to_json_dict())


async def _replay(history_json: str, workflow_id: str) -> None:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    replayer = Replayer(workflows=[RolloutWorkflow])
    await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, history_json))


def test_approval_gate_secret_scan_and_replay(
    tmp_path: Path, azurite: Azurite, temporal_server: DevServer
) -> None:
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    with simulator(tmp_path, 9, seed=5) as (endpoint, inventory):
        env = env_for(endpoint, azurite.connection_string, temporal_server.address,
                      FLEET_TEST_TOKEN=SECRET)
        worker = Worker(env, tmp_path / "w", tmp_path / "w.log")
        try:
            worker.wait_ready()
            early = fleet(["resume", "gated", "--approve"], env, tmp_path)
            assert early.returncode == 2  # no such run yet: one line, exit 2
            submitted = fleet(["run", "playbook.yaml", "-i", str(inventory), "--yes", "--run-id",
                               "gated", "--detach"], env, tmp_path)
            assert submitted.returncode == 0, submitted.stderr[-2000:]

            def status() -> dict:  # type: ignore[type-arg]
                answer = fleet(["status", "gated", "--format", "json"], env, tmp_path)
                if answer.returncode != 0:  # a query can time out on a busy worker: ask again
                    return {}
                return json.loads(answer.stdout)  # type: ignore[no-any-return]

            wait_for(lambda: status().get("awaiting_approval") == 0, 180,
                     lambda: f"never reached the gate: {worker.log.read_text()[-2000:]}")
            first_wave = sim_stats(endpoint)["executions_total"]
            assert 0 < first_wave <= 2  # the canary wave only, then the gate holds
            approved = fleet(["resume", "gated", "--approve"], env, tmp_path)
            assert approved.returncode == 0, approved.stderr[-2000:]
            again = fleet(["resume", "gated", "--approve"], env, tmp_path)
            assert again.returncode == 2  # one line: not at a gate (or already finished)
            assert "not waiting for approval" in again.stderr or "completed" in again.stderr
            wait_for(lambda: status().get("workflow") == "completed", 180,
                     lambda: f"never finished: {worker.log.read_text()[-2000:]}")
        finally:
            worker.stop()
        stats = sim_stats(endpoint)
        assert all(v == 1 for v in stats["executions"].values())
    history = asyncio.run(_history_json(temporal_server.address, "gated"))
    assert SECRET not in history
    assert "sig=" not in history and "AccountKey" not in history
    if os.environ.get("FLEET_RECORD_HISTORY"):  # refresh tests/data/temporal after a deliberate change
        DATA.mkdir(parents=True, exist_ok=True)
        (DATA / "gated-run.json").write_text(history)
    asyncio.run(_replay(history, "gated"))


def test_recorded_histories_still_replay() -> None:
    """Histories recorded by earlier versions: a workflow change that would break a running
    workflow (non-determinism) fails here."""
    recorded = sorted(DATA.glob("*.json"))
    assert recorded, "no recorded histories under tests/data/temporal"
    for path in recorded:
        asyncio.run(_replay(path.read_text(), path.stem))
