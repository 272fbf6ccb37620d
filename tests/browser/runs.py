"""Real runs for the browser tests: the simulator (real bash for Linux scripts) and Azurite,
through fleet's own engine, which writes report.json and report.html like any run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from fleet.engine.session import execute_plan
from fleet.report import load_record, record_from_dict, record_to_dict
from fleet.types import RunRecord
from fleet_sim.agent_profile import AgentProfile, AgentRule, Behaviour, Distribution
from fleet_sim.azurite import Azurite
from fleet_sim.config import MachineOverride
from fleet_sim.server import SimServer
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.fixtures.sim import FAST

# What a hostile or careless script may print: HTML and a script end tag must stay text.
IMG = "<img src=x onerror=alert(1)>"
END_SCRIPT = "</script><script>alert(2)</script>"
SCRIPT = f"""echo "checking rule $rule"
printf '%s\\n' '{IMG}' '{END_SCRIPT}'
echo done
"""
FAILING = "arc-lnx-*-0002"  # these machines' scripts exit 3 (modelled)
DOWN = "arc-*-0003"  # these machines are Disconnected (unreachable)


async def real_run(azurite: Azurite, run_dir: Path, machines: int = 12) -> RunRecord:
    agent = AgentProfile(
        defaults=Behaviour(executor="shell", start_latency_s=Distribution(0.0),
                           duration_s=Distribution(0.0)),
        rules=(AgentRule(name=FAILING, overrides=(("executor", "modelled"), ("exit_code", 3))),),
    )
    profile = dataclasses.replace(
        FAST.profile,
        overrides=(MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0"),
                   MachineOverride(name_glob=DOWN, status="Disconnected")),
        agent=agent,
    )
    config = dataclasses.replace(FAST, machines=machines, profile=profile)
    async with SimServer(config) as sim:
        linux = machines_of(sim, "linux")
        plan = make_plan(linux, waves=[1, len(linux) - 1], steps=(("apply", SCRIPT),),
                         parameters=(("rule", "allow-pki"),))
        return await execute_plan(plan, connection=connection(sim, azurite.connection_string),
                                  run_dir=run_dir, options=FAST_OPTIONS)


def scaled(run_dir: Path, rows: int) -> RunRecord:
    """The run in ``run_dir`` read back by the report loader, its rows repeated (as other
    machines, in other resource groups) until there are ``rows``."""
    doc = record_to_dict(load_record(run_dir))
    base = doc["rows"]
    grown = []
    for i in range(rows):
        row = dict(base[i % len(base)])
        row["name"] = f"{row['name']}-{i:05d}"
        row["resource_group"] = f"rg-{i % 40:02d}"
        grown.append(row)
    doc["rows"] = grown
    return record_from_dict(json.loads(json.dumps(doc)))
