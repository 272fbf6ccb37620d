"""A retried shard never sends a job twice, even when the earlier attempt's finished rows were
lost and its run commands are gone: the execution's output blob witnesses that it ran. The
shard's own code against the simulator and Azurite (its Temporal link faked at its seam)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.production.artifacts import ArtifactStore, shard_blob
from fleet.production.model import ShardInput
from fleet.production.shard import ShardContext, ShardRun
from fleet.production.shards import cut_waves
from fleet.types import JobState
from fleet_sim.azurite import Azurite
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.engine.test_rollout_policy import profile
from tests.fixtures.sim import SimFactory


class FakeHooks:
    def __init__(self, attempt: int, started_s: float = 0.0) -> None:
        self.attempt = attempt
        self.started_s = started_s
        self.beats: list[dict[str, Any]] = []

    def heartbeat(self, details: dict[str, Any]) -> None:
        self.beats.append(details)

    def run_canceled(self) -> bool:
        return False

    async def halt_reason(self) -> str | None:
        return None

    async def report_counts(self, failed: int, unreachable: int) -> None:
        return None


async def test_retry_with_lost_rows_sends_nothing_again(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=4, subscriptions=1, profile=profile())
    plan = make_plan(machines_of(sim), run_id="retry1")
    shard = cut_waves(plan)[0].shards[0]
    inp = ShardInput(run_id=plan.run_id, plan_blob="", plan_sha256="", wave=plan.waves[0].index,
                     shard=shard, wave_size=4, run_size=4, failed_in_wave=0, failed_in_run=0,
                     unreachable_in_wave=0, unreachable_in_run=0)
    ctx = ShardContext(connection=connection(sim, azurite.connection_string),
                       state_dir=tmp_path / "state", options=FAST_OPTIONS)
    async with ArtifactStore.open(run_id=plan.run_id, connection_string=azurite.connection_string,
                                  account_url=None) as store:
        await store.prepare()
        first = await ShardRun(inp, plan, ctx, FakeHooks(1), store).run()
        assert first.states == {"succeeded": 4}
        # The subscription's buckets as it left them, for its next shard (budget.py).
        assert first.tokens_left is not None and set(first.tokens_left) == {"read", "write", "delete"}
        assert sim.stats()["executions_total"] == 4
        # The worker "died" before any of its results were durable: rows and result are gone,
        # and so are the run commands (deleted after the results, as a crash could leave them).
        for name in await store.names("fleet/shards/"):
            await store._service.get_blob_client(store.container, name).delete_blob()
        assert await store.get(shard_blob(shard.shard_id)) is None
        second = await ShardRun(inp, plan, ctx, FakeHooks(2), store).run()
    assert sim.stats()["executions_total"] == 4  # nothing was sent again
    assert second.states == {JobState.CANCELED.value: 4}  # ran, command gone: never re-sent
