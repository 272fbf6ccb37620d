"""Rollout policy on the simulator: breach actions, rollback, gates, cancel, lock, edge cases."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from fleet.engine.cancel import cancel_offline
from fleet.engine.events import Event, JobEvent
from fleet.engine.session import execute_plan
from fleet.errors import RunFolderError
from fleet.journal import Journal
from fleet.types import JobState, RolloutPolicy, RunRecord
from fleet_sim import agent_profile as ap
from fleet_sim.azurite import Azurite
from fleet_sim.config import MachineOverride, Profile
from fleet_sim.server import SimServer
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.fixtures.sim import FAST, SimFactory

SECONDS = ap.Distribution(1.0)  # 1 simulated second = 10 ms here


def profile(*rules: ap.AgentRule, overrides: tuple[MachineOverride, ...] = (), long_s: float = 1.0) -> Profile:
    agent = ap.AgentProfile(
        defaults=ap.Behaviour(start_latency_s=ap.Distribution(0.1), duration_s=ap.Distribution(long_s)),
        rules=rules,
    )
    healthy = MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0")
    return dataclasses.replace(FAST.profile, agent=agent, overrides=(healthy, *overrides))


def fail_on(script_regex: str, exit_code: int = 9) -> ap.AgentRule:
    return ap.AgentRule(script=re.compile(script_regex),
                        overrides=(("failure_rate", 1.0), ("failure_exit_code", exit_code)))


def by_state(record: RunRecord, *, rollback: bool = False) -> dict[JobState, int]:
    counts: dict[JobState, int] = {}
    for r in record.results:
        if r.rollback == rollback:
            counts[r.state] = counts.get(r.state, 0) + 1
    return counts


async def go(sim: SimServer, tmp_path: Path, azurite: Azurite, plan, mode: str = "embedded", **kw):  # type: ignore[no-untyped-def]
    """Run ``plan`` in the embedded mode, or in production mode (a Temporal workflow, shards
    on an in-process worker): the same policy must give the same outcome."""
    if mode != "embedded":
        from tests.fixtures.temporal import run_in_temporal

        return await run_in_temporal(plan, server=mode, connection=connection(sim, azurite.connection_string),
                                     storage=azurite.connection_string, options=FAST_OPTIONS,
                                     run_dir=tmp_path / "run", **kw)
    return await execute_plan(plan, connection=connection(sim, azurite.connection_string),
                              run_dir=tmp_path / "run", options=FAST_OPTIONS, **kw)


@pytest.fixture(params=["embedded", "temporal"])
def mode(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Both execution modes (README "Production mode"): "embedded", or the Temporal server."""
    if request.param == "embedded":
        return "embedded"
    return request.getfixturevalue("temporal_server")


async def test_abort_stops_what_runs(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode) -> None:  # type: ignore[no-untyped-def]
    # One machine fails at once; the others would run for 1000 simulated seconds.
    fast_fail = ap.AgentRule(name="*-0001", overrides=(("failure_rate", 1.0), ("duration_s", SECONDS)))
    sim = await sim_factory(machines=8, profile=profile(fast_fail, long_s=1000.0))
    machines = sorted(machines_of(sim), key=lambda m: not m.name.endswith("-0001"))
    # The agent counts timeouts in simulated seconds: nothing may time out before the abort
    # reaches it (in production mode, other subscriptions' shards hear of it within ~1 s).
    plan = make_plan(machines, rollout=RolloutPolicy(max_failures="0", on_breach="abort",
                                                    max_concurrency="8"), timeout_s=100_000)
    record = await go(sim, tmp_path, azurite, plan, mode)
    assert record.status == "halted" and record.exit_code == 3
    counts = by_state(record)
    assert counts[JobState.FAILED] == 1 and counts[JobState.CANCELED] == 7, counts
    assert sim.stats()["cancels"] == 7, sim.stats()


async def test_continue_runs_everything_and_reports(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode) -> None:  # type: ignore[no-untyped-def]
    sim = await sim_factory(machines=6, profile=profile(fail_on("apply")))
    plan = make_plan(machines_of(sim), waves=[1, 5], steps=[("apply", "apply")],
                     rollout=RolloutPolicy(max_failures="0", on_breach="continue"))
    record = await go(sim, tmp_path, azurite, plan, mode)
    assert record.exit_code == 1 and record.status == "failed"
    assert by_state(record) == {JobState.FAILED: 6}


async def test_breach_runs_rollback_on_machines_that_ran_and_rollback_failure_is_reported(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode  # type: ignore[no-untyped-def]
) -> None:
    # The change fails on the 2nd wave's machines; the rollback itself fails on one machine.
    breaks = ap.AgentRule(name="*-000[3-4]", script=re.compile("apply"), overrides=(("failure_rate", 1.0),))
    rollback_breaks = ap.AgentRule(name="*-0004", script=re.compile("undo"), overrides=(("failure_rate", 1.0),))
    sim = await sim_factory(machines=6, profile=profile(breaks, rollback_breaks))
    machines = sorted(machines_of(sim), key=lambda m: m.name[-4:])
    plan = make_plan(machines, waves=[2, 2, 2], steps=[("apply", "apply")], rollback=[("undo", "undo")],
                     rollout=RolloutPolicy(max_failures="1", max_concurrency="2", rollback_on="breach",
                                           rollback_targets="ran"))
    record = await go(sim, tmp_path, azurite, plan, mode)
    if mode != "embedded":
        from tests.fixtures.temporal import maybe_record_history

        await maybe_record_history(mode, record.run_id, "rollback-run")
    assert record.status == "halted" and record.exit_code == 3
    assert by_state(record) == {JobState.SUCCEEDED: 2, JobState.FAILED: 2, JobState.SKIPPED: 2}
    retry = (tmp_path / "run" / "retry.txt").read_text().splitlines()
    assert retry[0].startswith("#") and sorted(n[-4:] for n in retry[1:]) == ["0003", "0004", "0005", "0006"]
    rollback = {r.machine.name[-4:]: r.state for r in record.results if r.rollback}
    assert rollback["0001"] == rollback["0002"] == rollback["0003"] == JobState.SUCCEEDED
    assert rollback["0004"] == JobState.FAILED  # rollback that itself fails is reported
    assert rollback["0005"] == rollback["0006"] == JobState.SKIPPED  # never ran the change
    reasons = {r.machine.name[-4:]: r.reason for r in record.results if r.rollback}
    assert reasons["0005"] == reasons["0006"] == "not a rollback target"
    assert [w.state for w in record.waves if w.index == -1] == ["done"]
    # Every machine ran its change at most once, and each target its rollback once.
    executions = sim.stats()["executions"]
    assert sum(executions.values()) == 4 + 4 and all(v <= 2 for v in executions.values())


async def test_breach_in_last_wave(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode) -> None:  # type: ignore[no-untyped-def]
    breaks = ap.AgentRule(name="*-0006", overrides=(("failure_rate", 1.0),))
    sim = await sim_factory(machines=6, profile=profile(breaks))
    machines = sorted(machines_of(sim), key=lambda m: m.name[-4:])
    plan = make_plan(machines, waves=[1, 5], rollout=RolloutPolicy(max_failures="0"))
    record = await go(sim, tmp_path, azurite, plan, mode)
    assert record.status == "halted" and record.exit_code == 3
    assert by_state(record)[JobState.FAILED] == 1


async def test_wave_all_unreachable(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    down = MachineOverride(name_glob="*-000[1-2]", status="Disconnected")
    sim = await sim_factory(machines=6, profile=profile(overrides=(down,)))
    machines = sorted(machines_of(sim), key=lambda m: m.name[-4:])
    # No unreachable budget: the rollout goes on, and exit 4 says only unreachable ones failed.
    record = await go(sim, tmp_path, azurite, make_plan(machines, waves=[2, 4]))
    assert record.exit_code == 4 and by_state(record) == {JobState.UNREACHABLE: 2, JobState.SUCCEEDED: 4}
    # With a budget of 0 unreachable, the same fleet halts after the canary wave.
    record = await execute_plan(
        make_plan(machines, waves=[2, 4], run_id="t2", rollout=RolloutPolicy(max_unreachable="0")),
        connection=connection(sim, azurite.connection_string), run_dir=tmp_path / "run2",
        options=FAST_OPTIONS,
    )
    assert record.exit_code == 3 and by_state(record) == {JobState.UNREACHABLE: 2, JobState.SKIPPED: 4}


async def test_approval_gate_then_resume_with_approve(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    sim = await sim_factory(machines=5, profile=profile())
    plan = make_plan(machines_of(sim), waves=[1, 4], rollout=RolloutPolicy(approve=True))
    record = await go(sim, tmp_path, azurite, plan)
    assert record.status == "awaiting_approval" and record.exit_code == 3
    assert by_state(record) == {JobState.SUCCEEDED: 1, JobState.PENDING: 4}
    with pytest.raises(Exception, match="--approve"):
        await go(sim, tmp_path, azurite, plan, resume=True)
    record = await go(sim, tmp_path, azurite, plan, resume=True, approve=True)
    assert record.exit_code == 0 and by_state(record) == {JobState.SUCCEEDED: 5}
    assert sum(sim.stats()["executions"].values()) == 5


async def test_interactive_approver_says_no(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    sim = await sim_factory(machines=3, profile=profile())
    asked: list[int] = []

    async def no(after_wave: int, label: str) -> bool:
        asked.append(after_wave)
        return False

    plan = make_plan(machines_of(sim), waves=[1, 2], rollout=RolloutPolicy(approve=True))
    record = await go(sim, tmp_path, azurite, plan, approver=no)
    assert asked == [1] and record.status == "awaiting_approval"


async def test_verify_gate_stops_next_wave(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode) -> None:  # type: ignore[no-untyped-def]
    unhealthy = ap.AgentRule(name="*-0001", script=re.compile("health"), overrides=(("failure_rate", 1.0),))
    sim = await sim_factory(machines=4, profile=profile(unhealthy))
    machines = sorted(machines_of(sim), key=lambda m: m.name[-4:])
    plan = make_plan(machines, waves=[1, 3], steps=[("apply", "apply"), ("verify", "health check")],
                     rollout=RolloutPolicy(verify_step="verify"))
    record = await go(sim, tmp_path, azurite, plan, mode)
    assert record.status == "halted"
    skipped = {r.machine.name[-4:] for r in record.results if r.state == JobState.SKIPPED}
    assert skipped == {"0002", "0003", "0004"}


async def test_cancel_while_running_and_lock(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    sim = await sim_factory(machines=6, profile=profile(long_s=1000.0))
    # Timeouts are simulated seconds on the agent's side: make sure nothing times out first.
    plan = make_plan(machines_of(sim), waves=[3, 3], rollout=RolloutPolicy(max_concurrency="3"),
                     timeout_s=100_000)
    three_running = asyncio.Event()
    running: set[str] = set()

    def watch(event: Event) -> None:
        if isinstance(event, JobEvent) and event.state == JobState.RUNNING:
            running.add(event.machine)
            if len(running) == 3:
                three_running.set()

    task = asyncio.create_task(go(sim, tmp_path, azurite, plan, observers=[watch]))
    journal_path = tmp_path / "run" / "journal.sqlite"
    await asyncio.wait_for(three_running.wait(), timeout=60)
    with pytest.raises(RunFolderError, match="another fleet runner"):
        await go(sim, tmp_path, azurite, plan, resume=True)
    other = Journal.open(journal_path)  # what `fleet cancel` does from another terminal
    other.set_meta(cancel_requested="now")
    other.close()
    record = await asyncio.wait_for(task, timeout=60)
    assert record.status == "canceled"
    assert by_state(record) == {JobState.CANCELED: 3, JobState.PENDING: 3}  # resumable
    assert sim.stats()["cancels"] == 3


async def test_cancel_with_no_runner_alive(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    sim = await sim_factory(machines=4, profile=profile())
    plan = make_plan(machines_of(sim), waves=[1, 3], rollout=RolloutPolicy(approve=True))
    await go(sim, tmp_path, azurite, plan)  # stops at the gate: 3 machines pending
    record = await cancel_offline(tmp_path / "run", connection(sim, azurite.connection_string))
    assert record.status == "canceled"
    assert by_state(record) == {JobState.SUCCEEDED: 1, JobState.PENDING: 3}  # resumable
    with pytest.raises(RunFolderError):
        await cancel_offline(tmp_path / "nope", connection(sim, azurite.connection_string))


async def test_cancel_while_puts_are_on_the_wire_leaves_nothing_behind(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    from fleet_sim.config import Faults, LatencySpec

    # Every ARM answer takes 1.5 s of wall time (150 simulated s), so the cancel lands mid-PUT.
    slow = dataclasses.replace(profile(long_s=1000.0),
                               faults=Faults(latency=LatencySpec(distribution="fixed", min_ms=150_000)))
    sim = await sim_factory(machines=4, profile=slow)
    plan = make_plan(machines_of(sim), rollout=RolloutPolicy(max_concurrency="4"), timeout_s=100_000)
    dispatched = asyncio.Event()

    def watch(event: Event) -> None:
        if isinstance(event, JobEvent) and event.state == JobState.DISPATCHED:
            dispatched.set()

    task = asyncio.create_task(go(sim, tmp_path, azurite, plan, observers=[watch]))
    await asyncio.wait_for(dispatched.wait(), timeout=60)
    other = Journal.open(tmp_path / "run" / "journal.sqlite")
    other.set_meta(cancel_requested="now")
    other.close()
    record = await asyncio.wait_for(task, timeout=120)
    states = by_state(record)
    assert JobState.DISPATCHED not in states and JobState.RUNNING not in states
    assert states == {JobState.CANCELED: 4}, states
    stats = sim.stats()
    # Every PUT that reached ARM was followed by the DELETE that stopped it.
    assert stats["cancels"] == stats["executions_total"]


async def test_halt_launches_nothing_after_the_breaching_result(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode
) -> None:  # type: ignore[no-untyped-def]
    """How promptly a budget stops dispatch: with one subscription (one shard at a time in
    production mode), not one machine is launched after the result that breaches the budget;
    only the one already in flight finishes."""
    fast_fail = ap.AgentRule(name="*-0001", overrides=(("failure_rate", 1.0), ("duration_s", SECONDS)))
    sim = await sim_factory(machines=20, subscriptions=1, profile=profile(fast_fail, long_s=50.0))
    machines = sorted(machines_of(sim), key=lambda m: not m.name.endswith("-0001"))
    plan = make_plan(machines, rollout=RolloutPolicy(max_failures="0", max_concurrency="2"),
                     timeout_s=100_000)
    record = await go(sim, tmp_path, azurite, plan, mode)
    assert record.status == "halted"
    assert by_state(record) == {JobState.FAILED: 1, JobState.SUCCEEDED: 1, JobState.SKIPPED: 18}
    assert sim.stats()["executions_total"] == 2


async def test_halt_across_subscriptions_launches_nothing_more(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, mode
) -> None:  # type: ignore[no-untyped-def]
    """Three subscriptions (three shards side by side in production mode, each with its share
    of the window): a failure in one halts the others before any of their slots frees (their
    jobs run 10 s, the halt reaches them within about a second), so exactly the first window
    of machines ran, as in the embedded mode."""
    fast_fail = ap.AgentRule(name="*-0001", overrides=(("failure_rate", 1.0), ("duration_s", SECONDS)))
    sim = await sim_factory(machines=30, subscriptions=3, profile=profile(fast_fail, long_s=1000.0))
    machines = sorted(machines_of(sim), key=lambda m: not m.name.endswith("-0001"))
    per_subscription = {m.subscription_id for m in machines}
    assert len(per_subscription) == 3
    plan = make_plan(machines, rollout=RolloutPolicy(max_failures="0", max_concurrency="6"),
                     timeout_s=100_000)
    record = await go(sim, tmp_path, azurite, plan, mode)
    assert record.status == "halted"
    counts = by_state(record)
    assert counts[JobState.FAILED] == 1 and counts[JobState.SKIPPED] == 30 - sim.stats()["executions_total"]
    assert sim.stats()["executions_total"] <= 6 + 1  # the window (+1: rounding of the shares)
