"""Engine scenarios on the simulator: throttling, faults, no storage, TLS, budgets, scale."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleet.engine.session import execute_plan
from fleet.types import JobState, RolloutPolicy, RunRecord
from fleet_sim import agent_profile as ap
from fleet_sim.azurite import Azurite
from fleet_sim.config import BucketSpec, Faults, Profile, ThrottleSpec
from fleet_sim.server import SimServer
from tests.engine.helpers import FAST_OPTIONS, FAST_RETRY, connection, machines_of, make_plan
from tests.fixtures.sim import FAST, SimFactory


def healthy_profile(**faults: object) -> Profile:
    """No unreachable machines: every generated machine Connected with a current agent."""
    from fleet_sim.config import MachineOverride

    return dataclasses.replace(
        FAST.profile,
        overrides=(MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0"),),
        faults=Faults(**faults),  # type: ignore[arg-type]
    )


def assert_exactly_once(sim: SimServer, record: RunRecord) -> None:
    executions = {k.lower(): v for k, v in sim.stats()["executions"].items()}
    assert all(v == 1 for v in executions.values()), executions
    for result in record.results:
        assert result.state.terminal, result
        if result.state == JobState.SUCCEEDED:
            assert executions.get(result.machine.key) == 1


async def run(sim: SimServer, tmp_path: Path, storage: str | None, plan_kw: dict | None = None, **conn):  # type: ignore[no-untyped-def]
    plan = make_plan(machines_of(sim), **(plan_kw or {}))
    return await execute_plan(
        plan, connection=connection(sim, storage, **conn), run_dir=tmp_path / "run", options=FAST_OPTIONS
    )


async def test_300_machines_outputs_equal_what_the_agent_wrote(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=300, profile=healthy_profile())
    record = await run(sim, tmp_path, azurite.connection_string)
    assert record.exit_code == 0, record.notes
    assert len(record.results) == 300
    assert_exactly_once(sim, record)
    # 300 outputs that differ only by the machine's own name read as 2 groups (one per OS line).
    from fleet.report.groups import output_groups

    groups = [g for g in output_groups(record.results) if g.stream == "output"]
    assert sorted(g.count for g in groups) == sorted(
        sum(1 for r in record.results if r.machine.os_type == os) for os in ("linux", "windows")
    )
    assert all("<machine>" in g.excerpt for g in groups)
    for result in record.results:
        text = (tmp_path / "run" / result.output.path).read_text()
        assert text.startswith(f"fleet-sim: machine={result.machine.name} os={result.machine.os_type}\n")
        assert text.rstrip().endswith("fleet-sim: exit=0")
        assert result.polls >= 1 and result.attempts == 1


async def test_throttled_by_small_buckets_finishes_with_few_429s(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    from fleet.arm.throttle import ArmLimits, BucketLimits

    # Simulated seconds run 100x faster: a refill of 0.05/s simulated is 5 tokens per wall
    # second, so 30 PUTs (and DELETEs) of one subscription against its 15 tokens need 3 s: the
    # client presses on the limit however slow the machine (at 1/s, 100 tokens per wall second,
    # a busy machine's slow requests never met it). The simulator's Retry-After (20 simulated
    # seconds) is capped at 0.3 wall seconds, the time one token takes.
    throttle = ThrottleSpec(reads=BucketSpec(40, 3), writes=BucketSpec(15, 0.05), deletes=BucketSpec(15, 0.05))
    sim = await sim_factory(machines=30, subscriptions=1,
                            profile=dataclasses.replace(healthy_profile(), throttle=throttle))
    # The client starts from ARM's real defaults; the simulator's buckets are far smaller, so the
    # client must learn them from the x-ms-ratelimit-remaining-* headers and 429s.
    limits = ArmLimits(reads=BucketLimits(250, 300), writes=BucketLimits(200, 100), deletes=BucketLimits(200, 100))
    retry = dataclasses.replace(FAST_RETRY, max_retry_after_s=0.3, default_retry_after_s=0.2)
    record = await run(sim, tmp_path, azurite.connection_string, arm_limits=limits, retry=retry)
    assert record.exit_code == 0
    assert_exactly_once(sim, record)
    stats = sim.stats()
    assert stats["throttled"] > 0  # the scenario really throttled
    total = sum(record.arm_requests.get(k, 0) for k in ("read", "write", "delete"))
    print("429s", stats["throttled"], "of", total, "requests")
    assert stats["throttled"] <= 0.25 * total, (stats["throttled"], total)


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 0.08},
        {"drop_before_rate": 0.05},
        {"drop_after_rate": 0.05},
        {"error_rate": 0.05, "drop_before_rate": 0.02, "drop_after_rate": 0.02},
    ],
    ids=["5xx", "drop-before", "drop-after", "mixed"],
)
async def test_faults_never_run_a_machine_twice(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, faults: dict[str, float]
) -> None:
    sim = await sim_factory(machines=60, profile=healthy_profile(**faults))
    record = await run(sim, tmp_path, azurite.connection_string)
    assert_exactly_once(sim, record)
    succeeded = [r for r in record.results if r.state == JobState.SUCCEEDED]
    assert len(succeeded) >= 55, [(r.machine.name, r.state, r.reason) for r in record.results if r.state != JobState.SUCCEEDED]


async def test_no_storage_keeps_instance_view_tail(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=5, profile=healthy_profile())
    record = await run(sim, tmp_path, None)
    assert record.exit_code == 0 and not record.storage
    for result in record.results:
        assert result.output.source == "instance_view"
        assert "no storage" in (result.reason or "")
        assert f"machine={result.machine.name}" in (tmp_path / "run" / result.output.path).read_text()


async def test_tls_with_the_simulators_ca(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    sim = await sim_factory(machines=4, tls=True, profile=healthy_profile())
    assert sim.arm_endpoint.startswith("https://") and sim.ca_file
    record = await run(sim, tmp_path, azurite.connection_string)
    assert record.exit_code == 0


async def test_canary_failure_with_zero_budget_halts(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    agent = ap.AgentProfile(defaults=ap.Behaviour(duration_s=ap.Distribution(1.0), failure_rate=1.0, failure_exit_code=7))
    sim = await sim_factory(machines=10, profile=dataclasses.replace(healthy_profile(), agent=agent))
    record = await run(
        sim, tmp_path, azurite.connection_string,
        plan_kw={"waves": [1, 9], "rollout": RolloutPolicy(max_failures="0")},
    )
    assert record.exit_code == 3 and record.status == "halted"
    states = [r.state for r in record.results]
    assert states.count(JobState.FAILED) == 1 and states.count(JobState.SKIPPED) == 9
    assert sum(sim.stats()["executions"].values()) == 1
    failed = next(r for r in record.results if r.state == JobState.FAILED)
    assert failed.exit_code == 7 and "exit code 7" in (failed.reason or "")


async def test_log_file_has_retries_and_throttle_pauses_without_secrets(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    import json as _json

    from fleet.engine.progress import JsonLog

    # One subscription, 30 PUTs against 5 write tokens refilled 20 per wall second: throttled
    # however slow the machine; Retry-After (5 simulated s) capped at 0.1 wall s.
    throttle = ThrottleSpec(reads=BucketSpec(20, 3), writes=BucketSpec(5, 0.2), deletes=BucketSpec(5, 0.2))
    profile = dataclasses.replace(healthy_profile(error_rate=0.1), throttle=throttle)
    sim = await sim_factory(machines=30, subscriptions=1, profile=profile)
    log = JsonLog(tmp_path / "events.jsonl")
    retry = dataclasses.replace(FAST_RETRY, max_retry_after_s=0.1, default_retry_after_s=0.05)
    try:
        record = await execute_plan(
            make_plan(machines_of(sim)), connection=connection(sim, azurite.connection_string, retry=retry),
            run_dir=tmp_path / "run", options=FAST_OPTIONS, observers=[log],
        )
    finally:
        log.close()
    lines = [_json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    arm = [e for e in lines if e["kind"] == "arm"]
    assert {"retry", "throttle_pause"} <= {e["what"] for e in arm}, arm[:5]
    assert sum(e["kind"] == "job" for e in lines) >= 30 * 3  # dispatched, running, terminal
    assert "sig=" not in (tmp_path / "events.jsonl").read_text()
    assert_exactly_once(sim, record)
