"""Production mode for real: a Temporal dev server, the simulator and Azurite, and `fleet
worker` processes. One worker is SIGKILLed mid-wave: the run completes on the other, every
machine ran exactly once, every output was collected, and the reports equal an embedded run's."""

from __future__ import annotations

from pathlib import Path

from fleet.production.devserver import DevServer
from fleet_sim.azurite import Azurite
from tests.production.helpers import (
    Worker,
    comparable,
    env_for,
    fleet,
    rows_of,
    sim_stats,
    simulator,
    wait_for,
)

PLAYBOOK = """\
name: fail-over
hosts: all
script: echo applied {{ machine.name }}
timeout: 6h  # a hang guard: 216 s of wall time at time scale 0.01, so a loaded machine never times a script out
rollout:
  waves: [30, "100%"]
  max_concurrency: 40
"""

# Every script runs 100 simulated seconds (1 s of wall time here), so a wave takes a while.
PROFILE = """\
agent:
  duration_s: 100
"""


def test_worker_sigkilled_mid_wave_run_completes_exactly_once(
    tmp_path: Path, azurite: Azurite, temporal_server: DevServer
) -> None:
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    with simulator(tmp_path, 300, seed=11, profile=PROFILE) as (endpoint, inventory):
        env = env_for(endpoint, azurite.connection_string, temporal_server.address)
        first = Worker(env, tmp_path / "w1", tmp_path / "w1.log")
        second: Worker | None = None
        try:
            first.wait_ready()
            submitted = fleet(["run", "playbook.yaml", "-i", str(inventory), "--yes", "--run-id",
                               "failover", "--detach"], env, tmp_path)
            assert submitted.returncode == 0, submitted.stderr[-3000:]
            # Mid-wave 2: the first worker holds every shard (it is alone) and has sent some.
            wait_for(lambda: sim_stats(endpoint)["executions_total"] >= 60, 180,
                     lambda: f"no progress: {first.log.read_text()[-2000:]}")
            second = Worker(env, tmp_path / "w2", tmp_path / "w2.log")
            second.wait_ready()
            before_kill = sim_stats(endpoint)["executions_total"]
            first.kill()
            assert before_kill < 280  # the kill landed mid-wave: most of wave 2 was still to run
            status = fleet(["status", "failover", "--format", "json"], env, tmp_path)
            assert status.returncode == 0, status.stderr
            run_dir = tmp_path / "runs" / "failover"

            def finished() -> bool:
                result = fleet(["report", "failover", "--out", str(run_dir)], env, tmp_path)
                return result.returncode == 0

            wait_for(finished, 240, lambda: f"never finished: {second.log.read_text()[-3000:]}")
        finally:
            first.kill()
            if second is not None:
                second.stop()
        stats = sim_stats(endpoint)
        executions = {k.lower(): v for k, v in stats["executions"].items()}
        assert executions and all(v == 1 for v in executions.values()), {
            k: v for k, v in executions.items() if v != 1}
        temporal_rows = rows_of(run_dir)
        assert len(temporal_rows) == 300
        succeeded = [r for r in temporal_rows.values() if r["state"] == "succeeded"]
        unreachable = [r for r in temporal_rows.values() if r["state"] == "unreachable"]
        assert len(succeeded) + len(unreachable) == 300, [(r["name"], r["state"], r["reason"]) for r in temporal_rows.values() if r["state"] not in ("succeeded", "unreachable")][:5]
        assert len(succeeded) == stats["executions_total"]
        for row in succeeded:  # every output collected, into the fetched run folder too
            assert row["output"]["source"] == "blob" and row["output"]["sha256"]
            text = (run_dir / row["output"]["path"]).read_text()
            assert text.startswith(f"fleet-sim: machine={row['name']} ")
        # The same run id again does not start a second rollout.
        again = fleet(["run", "playbook.yaml", "-i", str(inventory), "--yes", "--run-id",
                       "failover", "--detach"], env, tmp_path)
        assert again.returncode == 2 and "already exists" in again.stderr
        assert sim_stats(endpoint)["executions_total"] == stats["executions_total"]

    # The same plan in the embedded mode, on an identical simulated fleet: equal reports.
    with simulator(tmp_path, 300, seed=11, profile=PROFILE) as (endpoint, inventory):
        env = env_for(endpoint, azurite.connection_string, temporal_server.address)
        env.pop("FLEET_TEMPORAL")
        embedded_dir = tmp_path / "embedded"
        result = fleet(["run", "playbook.yaml", "-i", str(inventory), "--yes", "--run-id",
                        "failover", "--run-dir", str(embedded_dir)], env, tmp_path)
        assert result.returncode in (0, 4), result.stderr[-2000:]
    embedded_rows = rows_of(embedded_dir)
    assert embedded_rows.keys() == temporal_rows.keys()
    differ = {k: (comparable(embedded_rows[k]), comparable(temporal_rows[k]))
              for k in embedded_rows if comparable(embedded_rows[k]) != comparable(temporal_rows[k])}
    assert not differ, list(differ.items())[:3]


def test_temporal_server_restarted_mid_run_completes_nothing_twice(
    tmp_path: Path, azurite: Azurite
) -> None:
    from fleet.production.devserver import free_port
    from tests.fixtures.temporal import start_server

    port = free_port()
    db = tmp_path / "temporal.sqlite"
    server = start_server(tmp_path, port=port, db=db)
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK.replace("max_concurrency: 40", "max_concurrency: 10"))
    worker: Worker | None = None
    try:
        with simulator(tmp_path, 90, seed=12, profile=PROFILE) as (endpoint, inventory):
            env = env_for(endpoint, azurite.connection_string, server.address)
            worker = Worker(env, tmp_path / "w", tmp_path / "w.log")
            worker.wait_ready()
            submitted = fleet(["run", "playbook.yaml", "-i", str(inventory), "--yes", "--run-id",
                               "restart", "--detach"], env, tmp_path)
            assert submitted.returncode == 0, submitted.stderr[-3000:]
            wait_for(lambda: sim_stats(endpoint)["executions_total"] >= 35, 180,
                     lambda: f"no progress: {worker.log.read_text()[-2000:]}" if worker else "")
            before = sim_stats(endpoint)["executions_total"]
            server.stop()  # the whole Temporal server goes away mid-wave...
            server = start_server(tmp_path, port=port, db=db)  # ...and comes back, same SQLite file
            run_dir = tmp_path / "runs" / "restart"

            def finished() -> bool:
                return fleet(["report", "restart", "--out", str(run_dir)], env, tmp_path).returncode == 0

            wait_for(finished, 300, lambda: f"never finished: {worker.log.read_text()[-3000:]}" if worker else "")
            stats = sim_stats(endpoint)
        assert before < 80  # it was stopped while most of wave 2 had yet to run
        executions = {k.lower(): v for k, v in stats["executions"].items()}
        assert executions and all(v == 1 for v in executions.values()), {
            k: v for k, v in executions.items() if v != 1}
        rows = rows_of(run_dir)
        assert len(rows) == 90
        assert sum(r["state"] == "succeeded" for r in rows.values()) == stats["executions_total"]
        assert all(r["state"] in ("succeeded", "unreachable") for r in rows.values())
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
