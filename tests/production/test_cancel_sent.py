"""`fleet cancel` in production mode never reports a job that was (or may have been) sent as
"skipped" (never run): its shard stops it (DELETE, ``canceled``) even when no task watches it
yet, and the run's assembly turns a shard row that is still in flight into ``unknown``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fleet.journal import job_key
from fleet.production.artifacts import ArtifactStore, shard_blob
from fleet.production.assemble import assemble_run
from fleet.production.model import ShardInput
from fleet.production.shard import ShardContext, ShardRun
from fleet.production.shards import cut_waves, shard_plan
from fleet.types import JobState, MachineRef, StreamCapture
from fleet_sim.azurite import Azurite
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.engine.test_rollout_policy import by_state, profile
from tests.fixtures.sim import SimFactory
from tests.production.test_shard_retry import FakeHooks


def _row(key: str, state: JobState) -> dict[str, Any]:
    empty = dataclasses.asdict(StreamCapture())
    return {"key": key, "state": state.value, "exit_code": None, "attempts": 1, "polls": 0,
            "started_at": "2026-01-01T00:00:00Z", "ended_at": None, "reason": None,
            "output": empty, "error": empty}


def test_a_row_in_flight_in_a_canceled_shard_is_unknown_never_skipped(tmp_path: Path) -> None:
    machines = [MachineRef("00000000-0000-0000-0000-000000000001", "rg", f"m{i}") for i in range(4)]
    plan = make_plan(machines, waves=[2, 2])
    jobs = {j.machine.name: job_key(j.machine, j.step) for j in plan.jobs}
    doc = {"rows": [_row(jobs["m0"], JobState.DISPATCHED), _row(jobs["m1"], JobState.RUNNING)]}
    record = assemble_run(plan, [doc], tmp_path, wave_states={"0": "stopped"}, skip_reasons={},
                          breached=False, breach_reason=None, stopped="canceled", arm_requests=0,
                          meta={})
    states = {r.machine.name: r.state for r in record.results}
    assert states == {"m0": JobState.UNKNOWN, "m1": JobState.UNKNOWN,
                      "m2": JobState.SKIPPED, "m3": JobState.SKIPPED}
    retry = (tmp_path / "retry.txt").read_text()
    assert "m0\n" not in retry and "m1\n" not in retry  # may have run: never retried blindly
    assert "m2\n" in retry and "m3\n" in retry


def test_the_jobs_of_a_started_shard_that_left_no_result_are_unknown(tmp_path: Path) -> None:
    """A shard whose worker died after the cancel (no result, no rows) may have sent its jobs:
    ``unknown``; the next wave's shards never started: ``skipped``."""
    machines = [MachineRef("00000000-0000-0000-0000-000000000001", "rg", f"m{i}") for i in range(4)]
    plan = make_plan(machines, waves=[2, 2])
    record = assemble_run(plan, [], tmp_path, wave_states={"0": "stopped"}, skip_reasons={},
                          breached=False, breach_reason=None, stopped="canceled", arm_requests=0,
                          meta={}, started=[cut_waves(plan)[0]])
    states = {r.machine.name: r.state for r in record.results}
    assert states == {"m0": JobState.UNKNOWN, "m1": JobState.UNKNOWN,
                      "m2": JobState.SKIPPED, "m3": JobState.SKIPPED}


class CanceledHooks(FakeHooks):
    def run_canceled(self) -> bool:
        return True


async def test_cancel_before_the_rollout_stops_what_an_earlier_attempt_sent(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    """Attempt 2 of a shard adopts the run commands attempt 1 sent; the run's cancel arrives
    before its rollout exists. Each adopted command is deleted (stopped) and reported
    ``canceled``, none left running and reported "skipped"."""
    sim = await sim_factory(machines=3, subscriptions=1, profile=profile(long_s=1000.0))
    plan = make_plan(machines_of(sim), run_id="cancel-adopted")
    shard = cut_waves(plan)[0].shards[0]
    inp = ShardInput(run_id=plan.run_id, plan_blob="", plan_sha256="", wave=plan.waves[0].index,
                     shard=shard, wave_size=3, run_size=3, failed_in_wave=0, failed_in_run=0,
                     unreachable_in_wave=0, unreachable_in_run=0)
    by_id = {m.resource_id.lower(): m for m in sim.machines}
    for job in shard_plan(plan, inp.wave, shard).jobs:  # what attempt 1 sent before it died
        sim.state.put(by_id[job.machine.resource_id.lower()], job.run_command_name,
                      location="eastus", tags=None, properties=dict(job.request["properties"]),
                      password=None)
    assert sim.stats()["executions_total"] == 3
    ctx = ShardContext(connection=connection(sim, azurite.connection_string),
                       state_dir=tmp_path / "state", options=FAST_OPTIONS)
    async with ArtifactStore.open(run_id=plan.run_id, connection_string=azurite.connection_string,
                                  account_url=None) as store:
        await store.prepare()
        run = ShardRun(inp, plan, ctx, CanceledHooks(2), store)
        run.cancel()  # before `run()`: no rollout yet
        summary = await run.run()
        doc = await store.get(shard_blob(shard.shard_id))
    assert summary.states == {JobState.CANCELED.value: 3}
    assert sim.stats()["cancels"] == 3  # every adopted command was stopped by its DELETE
    assert sim.stats()["executions_total"] == 3  # and none sent again
    assert doc is not None
    record = assemble_run(plan, [json.loads(doc)], tmp_path / "run", wave_states={"0": "stopped"},
                          skip_reasons={}, breached=False, breach_reason=None, stopped="canceled",
                          arm_requests=0, meta={})
    assert by_state(record) == {JobState.CANCELED: 3}
