"""`fleet cancel` while a shard has no live attempt: its worker was SIGKILLed after sending
every command, and no other worker is there to retry it when the cancel comes. The workflow's
cleanup (``cancel_shard``, shielded) stops each command the dead attempt sent (DELETE) and
reports it ``canceled``; nothing is left running, reported skipped or unknown, or sent again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fleet.production.devserver import DevServer
from fleet_sim.azurite import Azurite
from tests.production.helpers import Worker, env_for, fleet, rows_of, sim_stats, simulator, wait_for

PLAYBOOK = """\
name: cancel-backoff
hosts: all
script: echo applied {{ machine.name }}
timeout: 24h
rollout:
  max_concurrency: 10
"""

# Scripts run far longer than the test: every command is in flight when its worker dies.
PROFILE = """\
agent:
  duration_s: 100000
"""


async def _activities(address: str, run_id: str) -> list[str]:
    from temporalio.client import Client

    client = await Client.connect(address)
    history = await client.get_workflow_handle(run_id).fetch_history()
    data = json.loads(json.dumps(history.to_json_dict()))
    return [e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
            for e in data["events"] if "activityTaskScheduledEventAttributes" in e]


def test_cancel_while_a_dead_shard_awaits_its_retry_stops_what_it_sent(
    tmp_path: Path, azurite: Azurite, temporal_server: DevServer
) -> None:
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    with simulator(tmp_path, 4, seed=21, profile=PROFILE) as (endpoint, inventory):
        # A short heartbeat timeout: the dead attempt is given up soon after the cancel.
        env = env_for(endpoint, azurite.connection_string, temporal_server.address,
                      FLEET_TEMPORAL_HEARTBEAT_TIMEOUT="4")
        first = Worker(env, tmp_path / "w1", tmp_path / "w1.log")
        second: Worker | None = None
        try:
            first.wait_ready()
            submitted = fleet(["run", "playbook.yaml", "-i", str(inventory), "--yes", "--run-id",
                               "cancelbackoff", "--detach"], env, tmp_path)
            assert submitted.returncode == 0, submitted.stderr[-3000:]
            wait_for(lambda: sim_stats(endpoint)["executions_total"] == 4, 120,
                     lambda: f"not all sent: {first.log.read_text()[-2000:]}")
            first.kill()  # every shard's attempt dies with its commands running
            canceled = fleet(["cancel", "cancelbackoff", "--no-wait"], env, tmp_path)
            assert canceled.returncode == 0, canceled.stderr[-2000:]
            # Only now a worker again: the run's cancel reaches the workflow with no attempt alive.
            second = Worker(env, tmp_path / "w2", tmp_path / "w2.log")
            second.wait_ready()
            run_dir = tmp_path / "runs" / "cancelbackoff"
            wait_for(lambda: fleet(["report", "cancelbackoff", "--out", str(run_dir)], env,
                                   tmp_path).returncode == 0,
                     180, lambda: f"never finished: {second.log.read_text()[-3000:]}" if second else "")
        finally:
            first.kill()
            if second is not None:
                second.stop()
        stats = sim_stats(endpoint)
    assert stats["executions_total"] == 4  # nothing sent again
    assert stats["cancels"] == 4, stats  # every execution the dead attempt started was stopped
    rows = rows_of(run_dir)
    assert len(rows) == 4
    assert {r["state"] for r in rows.values()} == {"canceled"}, [
        (r["name"], r["state"], r["reason"]) for r in rows.values()]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["run"]["status"] == "canceled"
    assert "cancel_shard" in asyncio.run(_activities(temporal_server.address, "cancelbackoff"))
