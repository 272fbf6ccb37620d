"""Scheduled sweeps on a Temporal Schedule: it fires (every few seconds here), each firing is a
sweep workflow on a worker, and a later firing reports the drift since the previous one.
Real bash runs the checks on the simulated agents."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from fleet.production.model import SweepSummary
from fleet_sim.azurite import Azurite
from fleet_sim.inventory_io import write_inventory
from tests.engine.helpers import FAST_OPTIONS, connection
from tests.fixtures.sim import SimFactory
from tests.sweep.helpers import shell_profile


async def _results(client: Any, schedule: Any) -> list[SweepSummary]:
    desc = await schedule.describe()
    done = []
    for action in desc.info.recent_actions:
        handle = client.get_workflow_handle(action.action.workflow_id, result_type=SweepSummary)
        described = await handle.describe()
        if described.status is not None and described.status.name == "COMPLETED":
            done.append(await handle.result())
    return done


async def test_schedule_fires_and_a_later_firing_reports_drift(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, temporal_server: Any,
) -> None:
    from temporalio.client import Client

    from fleet.production.connect import TemporalTarget
    from fleet.production.scheduled import ScheduleSpec, schedule_id
    from fleet.production.schedules import create_schedule, delete_schedule, describe_schedule
    from fleet.production.shard import ShardContext
    from fleet.production.worker import run_worker

    sim = await sim_factory(machines=6, profile=shell_profile())
    linux = [m.name for m in sim.machines if m.os_type == "linux"]
    state = tmp_path / "state"
    state.mkdir()
    for name in linux:
        (state / name).write_text("on\n")
    playbook = f"""\
name: scheduled sweep
hosts: all
os: linux
timeout: 1h
checks:
  - id: baseline
    title: the baseline is on
    linux: cat {state}/{{{{ machine.name }}}}
    expect: {{output_matches: ['^on$']}}
"""
    inventory = tmp_path / "inventory.yaml"
    write_inventory(sim.machines, inventory)
    name = f"nightly-{uuid.uuid4().hex[:6]}"
    target = TemporalTarget(temporal_server.address, task_queue=f"t-{uuid.uuid4().hex[:8]}")
    ctx = ShardContext(connection=connection(sim, azurite.connection_string),
                       state_dir=tmp_path / "worker", options=FAST_OPTIONS)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(target, ctx, stop=stop))
    client = await Client.connect(temporal_server.address)
    schedule = client.get_schedule_handle(schedule_id(name))
    try:
        await create_schedule(ScheduleSpec(name, "", playbook.encode(), inventory.read_bytes()),
                              target, connection_string=azurite.connection_string,
                              account_url=None, interval_s=3)
        described = await describe_schedule(target, name)
        assert described["overlap"] == "skip" and described["catchup_window_s"] == 3600
        first: list[SweepSummary] = []
        for _ in range(600):  # hang guard: wait for the first firing's sweep
            first = await _results(client, schedule)
            if first:
                break
            await asyncio.sleep(0.2)
        assert first and first[0].exit_code == 0 and first[0].newly_failing == 0
        await schedule.pause(note="test: change the fleet")
        for changed in linux[:2]:
            (state / changed).write_text("off\n")
        seen = len(await _results(client, schedule))
        await schedule.unpause(note="test: go on")
        later: list[SweepSummary] = []
        for _ in range(600):  # hang guard: a firing after the change
            later = (await _results(client, schedule))[seen:]
            if later:
                break
            await asyncio.sleep(0.2)
        assert later, "no firing after the change"
        drifted = later[0]
        assert drifted.newly_failing == 2 and drifted.exit_code == 6, drifted
        assert "2 newly failing" in drifted.drift
    finally:
        await delete_schedule(target, name)
        stop.set()
        await asyncio.wait_for(worker, 60)
