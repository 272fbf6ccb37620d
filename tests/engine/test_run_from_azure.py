"""`fleet run` on machines listed from ARM itself (no inventory file), resumed after a kill."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

from fleet_sim.azurite import Azurite
from tests.engine.test_crash_resume import TIME_SCALE, fleet, sim_stats, simulator  # noqa: F401


def subscriptions(endpoint: str) -> list[str]:
    request = urllib.request.Request(f"{endpoint}/subscriptions?api-version=2022-12-01",
                                     headers={"Authorization": "Bearer fleet-dev-token"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return [s["subscriptionId"] for s in json.load(answer)["value"]]


def test_run_from_an_arm_listing_and_resume(
    tmp_path: Path, simulator: tuple[str, Path], azurite: Azurite  # noqa: F811
) -> None:
    endpoint, _ = simulator
    subscription = subscriptions(endpoint)[0]
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text("name: from azure\nhosts: env_prod\nscript: echo ok\ntimeout: 1h\n")  # generous: see test_crash_resume
    env = {**os.environ, "FLEET_ARM_ENDPOINT": endpoint, "FLEET_CREDENTIAL": "dev",
           "FLEET_STORAGE_CONNECTION_STRING": azurite.connection_string, "FLEET_TIME_SCALE": TIME_SCALE,
           "FLEET_CACHE_DIR": str(tmp_path / "cache")}
    run_dir = tmp_path / "run"
    args = ["run", str(playbook), "--source", "arm", "--subscription", subscription, "--yes",
            "--run-dir", str(run_dir)]
    killed = fleet(args, env, "after_put:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    done = fleet(["resume", str(run_dir)], env, None)
    assert done.returncode in (0, 4), done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["rows"] and all(row["subscription"] == subscription for row in report["rows"])
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["inventory_sources"]  # the plan says where each machine came from
    assert all(v == 1 for v in sim_stats(endpoint)["executions"].values())
