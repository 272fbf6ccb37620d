"""``fleet commands list|clean`` against the simulator: fleet's leftovers (a --keep run) are
listed as fleet's, cleaned only with confirmation, and gone afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.commands.housekeeping import made_by_fleet
from fleet.plan.names import run_command_name
from fleet_sim.azurite import Azurite
from tests.cli.helpers import fleet, inventory, sim_env
from tests.fixtures.sim import SimFactory


def test_fleet_made_names_are_recognised_in_both_forms() -> None:
    assert made_by_fleet(run_command_name("20261129-082847-06e1", "main"))
    long_form = run_command_name("20261129-082847-06e1", "a-rather-long-step-name", instance="7ab7e5")
    assert long_form.startswith("f-") and made_by_fleet(long_form)
    assert not made_by_fleet("InstallAgentUpdate") and not made_by_fleet("fleetwide-fix")


async def test_list_then_clean_fleets_leftovers(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(tls=True)
    env = sim_env(sim, storage=azurite.connection_string)
    inv = inventory(sim, tmp_path)
    ran = await fleet("run", "--script", "id", "--os", "linux", "-i", str(inv), "--limit", "linux",
                      "--keep", "--yes", "--run-dir", str(tmp_path / "r"), env=env)
    assert ran.code in (0, 4), ran.both
    listed = await fleet("commands", "list", "-i", str(inv), "--format", "json", env=env)
    rows = json.loads(listed.out)["run_commands"]
    assert listed.code == 0 and rows and all(r["fleet"] and r["ended"] for r in rows)
    refused = await fleet("commands", "clean", "-i", str(inv), env=env)  # stdin is not a terminal
    assert refused.code == 2 and "--yes" in refused.err
    assert len(json.loads((await fleet("commands", "list", "-i", str(inv), "--format", "json",
                                       env=env)).out)["run_commands"]) == len(rows)
    cleaned = await fleet("commands", "clean", "-i", str(inv), "--yes", env=env)
    assert cleaned.code == 0 and f"deleted {len(rows)} of {len(rows)}" in cleaned.out, cleaned.both
    after = await fleet("commands", "list", "-i", str(inv), env=env)
    assert after.code == 0 and "0 run commands" in after.out
