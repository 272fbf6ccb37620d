"""A job's deadline (timeout + margin) starts when ARM accepts its PUT, not when the job is
scheduled: a PUT held back by 429s for longer than the margin still gets its whole budget.

Simulated time at scale 0.01 on both sides (the simulator and fleet's ScaledClock), with
fleet's real defaults (120 s margin, 300 s ARM retry deadline): nothing waits minutes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fleet.arm.retry import RetryPolicy
from fleet.engine.options import EngineOptions, PollPolicy, ScaledClock
from fleet.engine.session import execute_plan
from fleet.types import JobState
from fleet_sim.config import BucketSpec, ThrottleSpec
from tests.engine.helpers import connection, machines_of, make_plan
from tests.engine.test_scenarios import assert_exactly_once, healthy_profile
from tests.fixtures.sim import SimFactory

MARGIN_S = 120.0  # fleet's default timeout_margin_s
TIMEOUT_S = 60
HELD_S = 200.0  # the second PUT waits this long for a write token: more than timeout + margin


async def test_a_put_throttled_longer_than_the_margin_still_runs_to_its_end(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    # One write token, refilled once per HELD_S simulated seconds: of two PUTs sent together,
    # the second is answered 429 (Retry-After capped at 120 s by fleet, then the rest) and
    # accepted HELD_S after the first, when the first job's old deadline (timeout + margin
    # from scheduling, 180 s) would already have passed.
    throttle = ThrottleSpec(writes=BucketSpec(1, 1 / HELD_S), global_factor=1.0)
    sim = await sim_factory(machines=2, subscriptions=1, profile=dataclasses.replace(healthy_profile(), throttle=throttle))
    plan = make_plan(machines_of(sim), timeout_s=TIMEOUT_S)
    clock = ScaledClock(sim.config.time_scale)
    options = EngineOptions(
        timeout_margin_s=MARGIN_S,
        poll=PollPolicy(first_poll_s=1.0, min_interval_s=0.5, max_interval_s=5.0, read_budget_per_s=1000),
    )
    started = clock.now()
    record = await execute_plan(
        plan, connection=connection(sim, None, retry=RetryPolicy()), run_dir=tmp_path / "run",
        options=options, clock=clock,
    )  # fmt: skip
    # The throttle really held a PUT longer than the margin (the token bucket guarantees it).
    assert sim.stats()["throttled"] >= 1
    assert clock.now() - started >= HELD_S * 0.9
    # ...and both jobs ran to their end: neither was declared timed out and deleted.
    assert [r.state for r in record.results] == [JobState.SUCCEEDED, JobState.SUCCEEDED], [
        (r.state, r.reason) for r in record.results
    ]
    assert sim.stats()["cancels"] == 0
    assert_exactly_once(sim, record)
