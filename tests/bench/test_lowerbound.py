"""The benchmark's lower bound and the survival estimate behind the poll schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lowerbound import drawn_execution_s, lower_bound_s
from fleet.engine.survival import SurvivalEstimate

PROFILE = Path(__file__).resolve().parents[2] / "bench" / "profiles" / "arm-real.yaml"


def test_lower_bound_write_limited() -> None:
    # 400 jobs of 10 s, burst 200 then 10/s: the 400th token comes at 20 s.
    bound = lower_bound_s([10.0] * 400, concurrency=1000, write_burst=200, write_per_s=10)
    assert bound == pytest.approx(20.0 + 10.0)


def test_lower_bound_concurrency_limited() -> None:
    # 10 jobs of 5 s, 2 at a time, unlimited writes: 5 rounds.
    bound = lower_bound_s([5.0] * 10, concurrency=2, write_burst=1e9, write_per_s=1)
    assert bound == pytest.approx(25.0)


def test_lower_bound_long_job_dispatched_late() -> None:
    runs = [1.0] * 300
    runs[250] = 100.0  # its token comes at (251 - 200) / 10 = 5.1 s
    bound = lower_bound_s(runs, concurrency=1000, write_burst=200, write_per_s=10)
    assert bound == pytest.approx(105.1)


def test_drawn_execution_times_are_deterministic_and_follow_the_profile() -> None:
    first = drawn_execution_s(PROFILE, machines=200, seed=0)
    assert first == drawn_execution_s(PROFILE, machines=200, seed=0)
    assert first != drawn_execution_s(PROFILE, machines=200, seed=1)
    ordered = sorted(first)
    assert 15 < ordered[100] < 28  # median 20 s run + ~1 s start latency
    assert all(5 <= t <= 125 for t in first)


def test_survival_counts_running_jobs_as_censored() -> None:
    # Early on only short jobs have finished; the running ones keep the median honest.
    biased = SurvivalEstimate([5.0, 6.0, 7.0], alive_at=[])
    honest = SurvivalEstimate([5.0, 6.0, 7.0], alive_at=[8.0] * 7)
    assert biased.median() == 6.0
    assert honest.median() is None  # 70 % still run past 8 s: the median is beyond the data
    assert honest.survival(7.0) == pytest.approx(0.7)
    assert honest.age_at_survival(0.8) == 6.0


def test_survival_step_function() -> None:
    estimate = SurvivalEstimate([1.0, 2.0, 3.0, 4.0], alive_at=[])
    assert estimate.survival(0.5) == 1.0
    assert estimate.survival(2.0) == pytest.approx(0.5)
    assert estimate.median() == 2.0
    assert estimate.age_at_survival(0.0) == 4.0
    assert estimate.completions == 4


def test_drawn_execution_times_follow_the_given_order() -> None:
    from fleet_sim.config import SimConfig, load_profile
    from fleet_sim.server import load_machines

    config = SimConfig(machines=50, seed=0, subscriptions=1, profile=load_profile(PROFILE))
    ids = [m.resource_id for m in load_machines(config)]
    generated = drawn_execution_s(PROFILE, machines=50, seed=0)
    reordered = list(reversed(ids))
    assert drawn_execution_s(PROFILE, machines=50, seed=0, order=reordered) == generated[::-1]
    upper = [i.upper() for i in ids]  # resource ids compare case-insensitively, as ARM's do
    assert drawn_execution_s(PROFILE, machines=50, seed=0, order=upper) == generated


def test_the_bound_depends_on_the_dispatch_order() -> None:
    # A long job dispatched first ends early; the same job dispatched last ends late.
    runs = [1.0] * 299 + [100.0]
    late = lower_bound_s(runs, concurrency=1000, write_burst=200, write_per_s=10)
    early = lower_bound_s(runs[::-1], concurrency=1000, write_burst=200, write_per_s=10)
    assert late == pytest.approx(10.0 + 100.0) and early == pytest.approx(100.0)


def test_survival_between_event_times() -> None:
    # S: 1 -> 0.75 at 10 s -> 0.5 at 20 s -> 0.25 at 30 s -> 0 at 40 s.
    estimate = SurvivalEstimate([10.0, 20.0, 30.0, 40.0], alive_at=[])
    assert estimate.age_at_survival(0.6) == 20.0  # the step function: an event time
    assert estimate.age_at_survival_between(0.6) == pytest.approx(16.0)  # linear between
    assert estimate.age_at_survival_between(0.875) == pytest.approx(5.0)  # from 1 at age 0
    assert estimate.age_at_survival_between(0.5) == pytest.approx(20.0)
    assert estimate.last_event_age() == 40.0
    reaching = SurvivalEstimate([10.0], alive_at=[20.0, 20.0, 20.0])
    assert reaching.age_at_survival_between(0.5) is None  # the data does not go that far
    assert SurvivalEstimate([], alive_at=[5.0]).last_event_age() is None
