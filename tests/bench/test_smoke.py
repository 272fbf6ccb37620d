"""CI's benchmark smoke: N = 50, time-scaled, through the real harness (simulator, Azurite and
fleet each in their own process). Asserts correctness only (every output collected, ARM's
budgets respected, each machine written and deleted exactly once), never time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.lowerbound import drawn_execution_s, lower_bound_s
from bench.run import run_one

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "bench" / "profiles" / "arm-real.yaml"
AZURITE = REPO / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not AZURITE.exists(), reason="needs node and Azurite"
)


def test_fleet_at_n50_collects_everything_within_budgets(tmp_path: Path) -> None:
    machines = 50
    bound = lower_bound_s(
        drawn_execution_s(PROFILE, machines=machines, seed=0),
        concurrency=25,
        write_burst=200,
        write_per_s=10,
    )
    row = run_one(
        "fleet",
        machines=machines,
        concurrency=25,
        time_scale=0.05,
        seed=0,
        profile=PROFILE,
        workdir=tmp_path / "fleet",
        lower_bound=bound,
    )
    assert row.returncode == 0, (tmp_path / "fleet" / "fleet.log").read_text()[-2000:]
    assert row.collected == machines
    assert row.throttled == 0  # the client's buckets kept fleet inside ARM's
    assert row.writes == machines  # exactly one PUT per machine
    assert row.deletes == machines
    assert row.reads > 0


def test_the_careful_sdk_peer_runs_with_raised_retries(tmp_path: Path) -> None:
    """The peer the README compares with: azure-core's retry_total/retry_status raised to 20
    and its own concurrency (c10 here), so it collects every output instead of giving up on
    repeated 429s. Correctness only: every machine written once, every output collected."""
    row = run_one(
        "sdk-careful-c10",
        machines=20,
        concurrency=25,
        time_scale=0.05,
        seed=0,
        profile=PROFILE,
        workdir=tmp_path / "sdk",
        lower_bound=1.0,
    )
    log = (tmp_path / "sdk" / "sdk-careful-c10.log").read_text()[-2000:]
    assert row.returncode == 0, log
    assert row.collected == 20, log
    assert row.writes == 20 and row.deletes == 0  # the SDK peer never deletes (less work)
    assert row.concurrency == 10  # the peer's own concurrency, from its name
