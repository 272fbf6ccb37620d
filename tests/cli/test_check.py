"""``fleet check``: what a run needs, checked without running anything (real CLI processes,
simulator, Azurite)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fleet_sim.azurite import Azurite
from fleet_sim.config import MachineOverride
from tests.cli.helpers import fleet, inventory, playbook, sim_env
from tests.fixtures.sim import FAST, SimFactory

SECRET = 'run_as:\n  user: ops\n  password: \'{{ secret("env:FLEET_TEST_RUNAS") }}\'\n'


async def test_check_reports_each_condition_and_sends_nothing(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    down_rule = MachineOverride(name_glob="arc-lnx-*-000[1-5]", status="Disconnected")
    sim = await sim_factory(machines=20, tls=True,
                            profile=dataclasses.replace(FAST.profile, overrides=(down_rule,)))
    env = sim_env(sim, storage=azurite.connection_string)
    inv = inventory(sim, tmp_path)
    down = [m.name for m in sim.machines if m.os_type == "linux" and m.status != "Connected"]
    assert down
    checked = await fleet("check", str(playbook(tmp_path)), "-i", str(inv), env=env)
    assert checked.code == 4, checked.both  # some machines would be unreachable
    lines = {line.split()[0]: line for line in checked.out.splitlines() if not line.startswith(" ")}
    assert {"secrets", "token", "ARM", "machines", "storage"} <= set(lines)
    assert all(" ok " in lines[k] for k in ("secrets", "token", "ARM", "storage"))
    assert "FAIL" in lines["machines"] and all(f"  {name}: " in checked.out for name in down)
    listed = [line.split(":")[0].strip() for line in checked.out.splitlines() if line.startswith("  ")]
    assert set(down) <= set(listed)  # and the one whose agent is too old

    ready = await fleet("check", "--script", "id", "--os", "linux", "-i", str(inv), "--limit",
                        "linux:" + ":".join(f"!{n}" for n in listed), env=env)
    assert ready.code == 0, ready.both

    secret = await fleet("check", str(playbook(tmp_path, extra=SECRET, name="s.yaml")), "-i",
                         str(inv), env=env)
    assert secret.code == 9 and "FLEET_TEST_RUNAS" in secret.out

    refused = await fleet("check", str(playbook(tmp_path)), "-i", str(inv), env={
        **env, "FLEET_ARM_ENDPOINT": "https://127.0.0.1:9"})
    assert refused.code == 9 and "cannot reach ARM" in refused.out
    stats = sim.stats()
    assert stats["requests_by_method"].get("PUT", 0) == 0 and stats["executions_total"] == 0
