"""Issue #13 A1: a run's names on the machines are unique to its run folder (its instance)."""

from __future__ import annotations

from fleet.plan.instance import with_instance
from fleet.plan.names import RUN_COMMAND_NAME, blob_names, new_instance, run_command_name
from fleet.types import MachineRef
from tests.engine.helpers import make_plan

M = MachineRef(subscription_id="00000000-0000-0000-0000-000000000001", resource_group="rg",
               name="web-01", location="westeurope", os_type="linux")


def test_instance_changes_every_name_and_keeps_them_valid() -> None:
    for run_id in ("demo", "20261126-093000-7f3a", "a" * 40):
        plain = run_command_name(run_id, "main")
        names = {run_command_name(run_id, "main", instance=new_instance()) for _ in range(50)}
        assert plain not in names and len(names) == 50
        assert all(RUN_COMMAND_NAME.match(n) for n in names)
        assert blob_names(run_id, M, "main", instance="abc123") != blob_names(run_id, M, "main")


def test_same_instance_same_names_and_empty_instance_is_the_plan() -> None:
    plan = make_plan([M], run_id="demo")
    assert with_instance(plan, "") is plan
    bound = with_instance(plan, "a1b2c3")
    again = with_instance(plan, "a1b2c3")
    assert [j.run_command_name for j in bound.jobs] == [j.run_command_name for j in again.jobs]
    assert all(b.run_command_name != p.run_command_name and b.output_blob != p.output_blob
               for b, p in zip(bound.jobs, plan.jobs, strict=True))
    assert [j.request for j in bound.jobs] == [j.request for j in plan.jobs]
