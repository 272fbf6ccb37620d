"""Subscriptions in parallel: a wave whose inventory lists one subscription after another is
dispatched round-robin, so every subscription's ARM budget is busy at once (issue: 4,000
machines over 8 subscriptions ran one subscription after another)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from fleet.engine.session import execute_plan
from fleet.types import MachineRef, RolloutPolicy
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.engine.test_scenarios import healthy_profile
from tests.fixtures.sim import SimFactory


async def test_dispatch_interleaves_subscriptions(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=24, subscriptions=3, profile=healthy_profile())
    machines: list[MachineRef] = sorted(machines_of(sim), key=lambda x: (x.subscription_id, x.name))
    subs = sorted({x.subscription_id for x in machines})
    assert len(subs) == 3
    plan = make_plan(machines, rollout=RolloutPolicy(max_concurrency="6"))
    run_dir = tmp_path / "run"
    await execute_plan(plan, connection=connection(sim, None), run_dir=run_dir, options=FAST_OPTIONS)
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        rows = db.execute(
            "SELECT j.machine_json FROM transitions t JOIN jobs j USING (job_key) "
            "WHERE t.state = 'dispatched' AND t.detail IS NULL ORDER BY t.id"
        ).fetchall()
    order = [json.loads(r[0])["subscription_id"] for r in rows]
    assert sorted(order) == sorted(x.subscription_id for x in machines)
    # The first window (6) is filled in one turn: two of each subscription, taken in turns.
    assert order[:3] == subs and sorted(order[:6]) == sorted(subs * 2)
