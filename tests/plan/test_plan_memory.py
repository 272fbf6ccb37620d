"""``fleet plan --format json`` is streamed (the same bytes as ``json.dumps`` of the whole plan,
never the whole-fleet dict nor the whole text in memory), and planning 2,000 machines stays
within a memory bound. Memory is counted with tracemalloc, never timed."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleet.inventory import load_inventory
from fleet.plan.build import build_plan
from fleet.plan.render import dumps_plan, plan_to_json, write_plan

from .conftest import INVENTORY

Write = Callable[[str, str], Path]
RUN = "20261126-014512-ab12"
PLAYBOOK = """\
name: t
hosts: all
steps:
  - {name: check, script: 'echo {{ machine.name }} é', parameters: {who: '{{ machine.location }}'}}
  - {name: apply, script: y, when: steps.check.failed}
rollback:
  - {name: undo, script: z}
rollout: {waves: [1, 50%, 100%], verify: check}
"""


def hosts_inventory(count: int) -> str:
    hosts = "".join(f"    m-{i:05d}: {{location: {['eastus', 'westus2'][i % 2]}, "
                    f"os_type: {['linux', 'windows'][i % 3 == 0]}, tags: {{ring: '{i % 4}'}}}}\n"
                    for i in range(count))
    return ("all:\n  vars:\n    subscription_id: 00000000-0000-0000-0000-0000000000aa\n"
            "    resource_group: rg\n  hosts:\n" + hosts)


def plan_of(write: Write, playbook: str, inventory: str) -> Any:
    return build_plan(playbook_path=write("pb.yaml", playbook),
                      inventory=load_inventory(write("inv.yaml", inventory)),
                      limit=None, extra_vars={}, run_id=RUN)


@pytest.mark.parametrize("inventory", [INVENTORY, hosts_inventory(300)])
def test_streamed_json_is_exactly_json_dumps_of_the_plan(write: Write, inventory: str) -> None:
    plan = plan_of(write, PLAYBOOK + "os: linux\n", inventory)
    assert plan.excluded and plan.rollback_jobs and len(plan.waves) >= 2
    pieces: list[str] = []
    write_plan(plan, pieces.append)
    whole = json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False) + "\n"
    assert "".join(pieces) == whole == dumps_plan(plan)
    if len(whole) > 1_000_000:
        assert len(pieces) > 5  # written as it is made, not at the end
        assert max(map(len, pieces)) < 500_000


def test_planning_and_writing_1000_machines_stays_within_a_memory_bound(write: Write) -> None:
    """The bound is generous (about 2.5x the ~5 MB it takes today) and load-independent;
    building the JSON tree of every job before writing it (~30 MB here) would exceed it."""
    inventory = write("inv.yaml", hosts_inventory(1000))
    playbook = write("pb.yaml", PLAYBOOK)
    written = 0

    def sink(text: str) -> None:
        nonlocal written
        written += len(text)

    tracemalloc.start()
    try:
        plan = build_plan(playbook_path=playbook, inventory=load_inventory(inventory),
                          limit=None, extra_vars={}, run_id=RUN)
        write_plan(plan, sink)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(plan.jobs) == 2000 and written > 3_000_000
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB"


def test_equal_request_bodies_are_one_object(write: Write) -> None:
    plan = plan_of(write, "name: t\nhosts: all\nscript: 'echo {{ machine.tags.ring }}'\n",
                   hosts_inventory(24))
    objects = {id(job.request) for job in plan.jobs}
    texts = {json.dumps(job.request) for job in plan.jobs}
    assert len(objects) == len(texts) < len(plan.jobs) / 2  # each distinct body once
    for job in plan.jobs:
        assert job.request["location"] == job.machine.location
        assert f"{int(job.machine.name[-5:]) % 4}" in job.request["properties"]["source"]["script"]
