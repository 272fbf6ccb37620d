"""Value types of the base layer."""

from __future__ import annotations

from fleet.types import MachineRef


def test_machine_keys_are_one_string_per_machine() -> None:
    # The whole-fleet maps of a run (rollout, outcome, preflight, progress) share each key.
    sub = "00000000-0000-0000-0000-000000000001"
    first, again = MachineRef(sub, "RG-Web", "web-01"), MachineRef(sub, "rg-web", "WEB-01")
    assert first.key is again.key
    assert first.key == f"/subscriptions/{sub}/resourcegroups/rg-web/providers/microsoft.hybridcompute/machines/web-01"
