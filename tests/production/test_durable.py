"""Durable control in production mode: `fleet cancel` reaching in-flight commands, and a pause
of (scaled) hours that no worker sits through. In-process workers, a real Temporal dev server,
the simulator and Azurite."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest

from fleet.types import JobState, RolloutPolicy
from fleet_sim import agent_profile as ap
from fleet_sim.azurite import Azurite
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.engine.test_rollout_policy import by_state, profile
from tests.fixtures.sim import SimFactory
from tests.fixtures.temporal import run_in_temporal


async def test_cancel_stops_in_flight_commands(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, temporal_server: Any
) -> None:
    from fleet.production.client import cancel

    sim = await sim_factory(machines=6, profile=profile(long_s=1000.0))
    plan = make_plan(machines_of(sim), waves=[3, 3], rollout=RolloutPolicy(max_concurrency="3"),
                     timeout_s=100_000)

    async def cancel_once_three_run(target: Any, run_id: str) -> None:
        for _ in range(1200):  # hang guard; the condition is what we wait for
            if sim.stats()["executions_total"] >= 3:
                break
            await asyncio.sleep(0.1)
        await cancel(target, run_id)

    record = await run_in_temporal(
        plan, server=temporal_server, connection=connection(sim, azurite.connection_string),
        storage=azurite.connection_string, options=FAST_OPTIONS, run_dir=tmp_path / "run",
        on_started=cancel_once_three_run)
    assert record.status == "canceled"
    assert by_state(record) == {JobState.CANCELED: 3, JobState.SKIPPED: 3}
    assert sim.stats()["cancels"] == 3  # every in-flight command was stopped by its DELETE


async def _events(client: Any, run_id: str) -> list[str]:
    history = await client.get_workflow_handle(run_id).fetch_history()
    return [str(event.WhichOneof("attributes")) for event in history.events]


async def test_pause_of_hours_runs_on_no_worker(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, temporal_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 2-hour pause (0.001 wall s per second here: 7.2 s) is a Temporal timer: the only worker
    stops once the timer is set, the timer fires with no worker at all, and a new worker
    finishes the run."""
    from temporalio.client import Client

    from fleet.production.client import Storage, fetch_reports, submit, wait_result
    from fleet.production.connect import TemporalTarget
    from fleet.production.shard import ShardContext
    from fleet.production.worker import run_worker
    from fleet.report import load_record

    monkeypatch.setenv("FLEET_TIME_SCALE", "0.001")
    sim = await sim_factory(machines=3, profile=profile())
    plan = make_plan(machines_of(sim), waves=[1, 2], rollout=RolloutPolicy(pause_s=7200))
    plan = dataclasses.replace(plan, run_id=f"pause-{uuid.uuid4().hex[:8]}")
    target = TemporalTarget(temporal_server.address, task_queue=f"t-{uuid.uuid4().hex[:8]}")
    ctx = ShardContext(connection=connection(sim, azurite.connection_string),
                       state_dir=tmp_path / "state", options=FAST_OPTIONS)
    blobs = Storage(azurite.connection_string, None)
    client = await Client.connect(temporal_server.address)

    async def wait_event(name: str) -> None:
        for _ in range(1200):  # hang guard
            if name in await _events(client, plan.run_id):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {name} in the history")

    first_stop = asyncio.Event()
    first = asyncio.create_task(run_worker(target, ctx, stop=first_stop))
    assert await submit(plan, target, blobs)
    await wait_event("timer_started_event_attributes")
    first_stop.set()
    await asyncio.wait_for(first, 60)
    assert sim.stats()["executions_total"] == 1  # the canary wave only
    await wait_event("timer_fired_event_attributes")  # no worker is running
    assert sim.stats()["executions_total"] == 1
    second_stop = asyncio.Event()
    second = asyncio.create_task(run_worker(target, ctx, stop=second_stop))
    try:
        summary = await asyncio.wait_for(wait_result(target, plan.run_id), 240)
    finally:
        second_stop.set()
        await asyncio.wait_for(second, 60)
    assert summary.status == "succeeded"
    await fetch_reports(plan.run_id, blobs, tmp_path / "run", outputs=False)
    assert by_state(load_record(tmp_path / "run")) == {JobState.SUCCEEDED: 3}
    assert sum(sim.stats()["executions"].values()) == 3
    _ = ap  # (profile helpers come from the policy suite)


async def test_long_run_continues_as_new_at_wave_boundaries(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, temporal_server: Any
) -> None:
    """A history past its limit continues as new at the next wave boundary, carrying the
    counts and wave states: the report is the same as one run in one history, and the small
    shards (2 machines, 1 per shard) show the split into sequential chunks."""
    sim = await sim_factory(machines=8, profile=profile())
    machines = machines_of(sim)
    plan = make_plan(machines, waves=[2, 2, 2, 2], rollout=RolloutPolicy(max_failures="0"))
    record = await run_in_temporal(
        plan, server=temporal_server, connection=connection(sim, azurite.connection_string),
        storage=azurite.connection_string, options=FAST_OPTIONS, run_dir=tmp_path / "run",
        history_limit=5, max_shard=1)
    assert record.status == "succeeded" and by_state(record) == {JobState.SUCCEEDED: 8}
    assert [w.state for w in record.waves] == ["done"] * 4
    assert sum(sim.stats()["executions"].values()) == 8
    from temporalio.client import Client

    client = await Client.connect(temporal_server.address)
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{record.run_id}"')]
    assert len(runs) >= 3, len(runs)  # it continued as new (at least twice)
