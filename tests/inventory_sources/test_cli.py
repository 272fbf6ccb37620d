"""``fleet inventory`` with Azure sources, against the simulator (the CLI runs in a worker
thread with its own event loop while the simulator serves from the test's loop)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from fleet.cli import main
from fleet_sim.server import SimServer
from tests.fixtures.sim import SimFactory
from tests.inventory_sources.helpers import graph_requests, list_requests, subscriptions


async def invoke(sim: SimServer, tmp_path: Path, *args: str) -> Result:
    argv = ["inventory", *args, "--arm-endpoint", sim.arm_endpoint, "--credential", "dev",
            "--cache-dir", str(tmp_path / "cache")]
    return await asyncio.to_thread(CliRunner().invoke, main, argv)


async def test_source_arm_lists_a_resource_group_with_status_and_source(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=12)
    target = sim.machines[0]
    result = await invoke(sim, tmp_path, "--source", "arm", "--subscription",
                          target.subscription_id, "--resource-group", target.resource_group)
    assert result.exit_code == 0, result.output
    expected = [m for m in sim.machines if m.subscription_id == target.subscription_id
                and m.resource_group == target.resource_group]
    lines = result.output.splitlines()
    assert lines[0].split()[-2:] == ["status", "source"]
    assert lines[-1] == f"{len(expected)} machines"
    assert f"arm:{target.subscription_id}/{target.resource_group}" in result.output
    again = await invoke(sim, tmp_path, "--source", "arm", "--subscription",
                         target.subscription_id, "--resource-group", target.resource_group)
    assert "(cached)" in again.output and list_requests(sim) == 1


async def test_query_prints_json_with_origin_and_limit_on_tag_groups(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=30)
    query = ("resources | where type =~ 'microsoft.hybridcompute/machines' | where "
             "tags['env'] == 'prod'")
    result = await invoke(sim, tmp_path, "--query", query, "--format", "json",
                          "--limit", "role_web:&os_linux", "--no-cache")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    expected = {m.name for m in sim.machines if m.tags["env"] == "prod"
                and m.tags["role"] == "web" and m.os_type == "linux"}
    assert {r["name"] for r in rows} == expected and expected
    assert rows[0]["origin"]["source"].startswith("resource-graph:")
    assert rows[0]["origin"]["from_cache"] is False and graph_requests(sim) == 1
    assert not (tmp_path / "cache").exists()  # --no-cache writes nothing


async def test_bad_query_and_bad_usage_exit_2(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=3)
    bad = await invoke(sim, tmp_path, "--query", "resources | summarize count()")
    assert bad.exit_code == 2 and "summarize" in bad.output and "fleet: error:" in bad.output
    assert "Traceback" not in bad.output
    for args in (["--source", "arm"], ["--subscription", subscriptions(sim)[0]],
                 ["--source", "resource-graph"], []):
        result = await invoke(sim, tmp_path, *args)
        assert result.exit_code == 2, (args, result.output)
    # the usage errors were refused before any request: only the bad query reached ARG
    assert list_requests(sim) == 0 and graph_requests(sim) == 1


async def test_file_plus_command_line_source(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=6)
    one = sim.machines[0]
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"all:\n  children:\n    canary:\n      hosts:\n        {one.name}:\n"
                   "          note: first\n")
    result = await invoke(sim, tmp_path, "-i", str(inv), "--source", "arm", "--subscription",
                          one.subscription_id, "--limit", "canary", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == [one.name] and rows[0]["vars"]["note"] == "first"
    assert rows[0]["location"] == one.location


async def test_plan_records_source_and_snapshot_per_machine(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=10)
    playbook = tmp_path / "pb.yaml"
    playbook.write_text("name: uptime\nhosts: role_web:&os_linux\nos: linux\nsteps:\n"
                        "  - name: up\n    script: uptime\n")
    argv = ["plan", str(playbook), "--source", "arm", "--arm-endpoint", sim.arm_endpoint,
            "--credential", "dev", "--cache-dir", str(tmp_path / "cache")]
    for subscription in subscriptions(sim):
        argv += ["--subscription", subscription]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*argv, "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    planned = {m["id"] for w in plan["waves"] for m in w["machines"]}
    origins = plan["inventory_sources"]
    assert {o["machine_id"] for o in origins} == planned and planned
    assert all(o["source"].startswith("arm:") and o["snapshot_at"].endswith("Z") for o in origins)
    statuses = {m.resource_id: m.status for m in sim.machines}
    assert all(o["status"] == statuses[o["machine_id"]] for o in origins)
    text = await asyncio.to_thread(CliRunner().invoke, main, [*argv, "--format", "text"])
    assert "machines from Azure: arm:" in text.output and "(cached)" in text.output
