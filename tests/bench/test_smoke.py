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
