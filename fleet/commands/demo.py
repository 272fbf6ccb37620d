"""``fleet demo``: a real rollout on a simulated fleet, no Azure account needed.

Starts the simulator (ARM over HTTPS with its own CA, 200 machines, a few Disconnected or with
an old agent, a few failing) and Azurite, writes the fleet as an inventory, runs the seed's
firewall playbook in waves, and prints the recap and where the HTML report is.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, run_async
from fleet.commands.options import RUN_DIR, VERBOSE, BoundedFloat

__all__ = ["demo"]

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "demo-firewall.yaml"


@click.command()
@click.option("--machines", default=200, show_default=True, type=click.IntRange(1, 100_000),
              help="Size of the simulated fleet.")
@click.option("--seed", default=42, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of the simulated fleet.")
@click.option("--time-scale", default=0.05, show_default=True, type=BoundedFloat(1e-4, 1e4),
              help="Wall seconds per simulated second (0.05: a 5 s script takes 0.25 s).")
@click.option("--playbook", type=click.Path(dir_okay=False), default=str(PLAYBOOK), show_default=True,
              help="Playbook to run against the simulated fleet.")
@RUN_DIR
@VERBOSE
def demo(**kw: Any) -> None:
    """Run the seed's firewall rollout on a simulated fleet of 200 machines."""
    record = run_async(lambda: _demo(kw))
    sys.exit(record.exit_code)


def demo_profile(time_scale: float) -> Any:
    from fleet_sim.agent_profile import AgentProfile, AgentRule, Behaviour, Distribution
    from fleet_sim.config import Profile

    failing = AgentRule(tags=(("role", "cache"),), overrides=(("failure_rate", 0.25),))
    agent = AgentProfile(
        defaults=Behaviour(start_latency_s=Distribution(1.0, 0.3), duration_s=Distribution(8.0, 0.5)),
        rules=(failing,),
    )
    return Profile(agent=agent)


async def _demo(kw: dict[str, Any]) -> Any:
    from datetime import UTC, datetime

    from fleet.commands.run import execute
    from fleet.engine.options import EngineOptions, PollPolicy
    from fleet.engine.session import Connection
    from fleet.errors import EXIT_FAILED
    from fleet.inventory import load_inventory
    from fleet.plan.build import build_plan, new_run_id
    from fleet.report.recap import plural
    from fleet_sim.config import SimConfig
    from fleet_sim.inventory_io import write_inventory
    from fleet_sim.server import SimServer

    scale = kw["time_scale"]
    config = SimConfig(machines=kw["machines"], seed=kw["seed"], tls=True, storage="azurite",
                       time_scale=scale, profile=demo_profile(scale))
    # The demo's run-as password is a stand-in; the report and logs will show it never leaks.
    os.environ.setdefault("FLEET_RUNAS_PASSWORD", "demo-Passw0rd!")
    echo(f"starting the simulator: {kw['machines']} Arc machines, Azurite for outputs …")
    async with SimServer(config) as sim:
        run_id = new_run_id(datetime.now(UTC))
        run_dir = Path(kw["run_dir"] or Path("runs") / run_id)
        # The run folder must be new or empty (the engine refuses anything else): the
        # simulated inventory goes beside it, not into it.
        inventory_path = run_dir.parent / f"{run_dir.name}.sim-inventory.yaml"
        run_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_inventory(sim.machines, inventory_path)
        inventory_path.chmod(0o600)  # like every file of a run folder
        plan = build_plan(playbook_path=Path(kw["playbook"]), inventory=load_inventory(inventory_path),
                          limit=None, extra_vars={}, run_id=run_id)
        echo(f"simulated ARM at {sim.arm_endpoint}; inventory written to {inventory_path}")
        connection = Connection(arm_endpoint=sim.arm_endpoint, credential="dev", ca_file=sim.ca_file,
                                storage_connection_string=sim.storage_connection_string)
        base = PollPolicy()
        poll = dataclasses.replace(base, first_poll_s=base.first_poll_s * scale,
                                   min_interval_s=base.min_interval_s * scale,
                                   max_interval_s=base.max_interval_s * scale)
        options = EngineOptions(poll=poll, timeout_margin_s=EngineOptions().timeout_margin_s * scale)
        record = await execute(plan, connection, run_dir, options, {"verbose": kw["verbose"]})
        stats = sim.stats()
        twice = sum(1 for n in stats["executions"].values() if n > 1)
        echo(f"simulator: {stats['executions_total']} executions, {plural(twice, 'machine')} run "
             f"twice, {stats.get('throttled', 0)} throttled answers")
        if record.exit_code == EXIT_FAILED:
            echo("the demo exits 1 on purpose: some simulated machines are set to fail, so you can "
                 "see how failures are reported (and the unreachable ones apart). Nothing is wrong.")
    return record
