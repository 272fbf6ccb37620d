"""Sweeps against the simulator's shell executor (real bash) and Azurite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fleet.engine.session import execute_plan
from fleet.engine.sweep import SweepOutcome, run_sweep
from fleet.inventory import load_inventory
from fleet.plan.model import Plan
from fleet.plan.sweep import build_sweep
from fleet.sweep.history import HistoryStore
from fleet.types import RunRecord
from fleet_sim.agent_profile import AgentProfile, Behaviour, Distribution
from fleet_sim.azurite import Azurite
from fleet_sim.config import MachineOverride, Profile
from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer
from tests.engine.helpers import FAST_OPTIONS, connection
from tests.fixtures.sim import FAST

NONCE = "0123456789abcdef0123456789abcdef"


def shell_profile(*overrides: MachineOverride) -> Profile:
    """Every machine Connected with a current agent, unless ``overrides`` say otherwise; Linux
    scripts run for real with bash."""
    agent = AgentProfile(defaults=Behaviour(executor="shell", start_latency_s=Distribution(0.0),
                                            duration_s=Distribution(0.0)))
    return dataclasses.replace(
        FAST.profile,
        overrides=(MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0"),
                   *overrides),
        agent=agent,
    )


async def sweep_once(sim: SimServer, azurite: Azurite, playbook: Path, work: Path, run_id: str,
                     *, history: Path | None = None, options: object = FAST_OPTIONS,
                     limit: str | None = None) -> SweepOutcome:
    inventory_path = work / f"{run_id}-inventory.yaml"
    write_inventory(sim.machines, inventory_path)
    sweep = build_sweep(playbook_path=playbook, inventory=load_inventory(inventory_path),
                        limit=limit, extra_vars={}, run_id=run_id, nonce=NONCE)
    run_dir = work / run_id

    async def engine(plan: Plan) -> RunRecord:
        return await execute_plan(plan, connection=connection(sim, azurite.connection_string),
                                  run_dir=run_dir, options=options)  # type: ignore[arg-type]

    return await run_sweep(sweep, execute=engine, run_dir=run_dir,
                           history=HistoryStore(history) if history else None)
