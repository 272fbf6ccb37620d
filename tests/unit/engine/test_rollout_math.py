from __future__ import annotations

import pytest

from fleet.engine.record import run_status
from fleet.engine.rollout import resolve_amount
from fleet.types import JobResult, JobState, MachineRef


@pytest.mark.parametrize(
    ("value", "base", "minimum", "expected"),
    [
        ("10%", 100, 0, 10),
        ("10%", 9, 0, 0),  # rounds down: a 10% budget on 9 machines trips on the first failure
        ("10%", 9, 1, 1),  # a window is at least 1
        ("50%", 3, 1, 1),
        ("100%", 3, 1, 3),
        ("0", 50, 0, 0),
        (5, 50, 0, 5),
        (None, 50, 0, None),
    ],
)
def test_resolve_amount(value: str | int | None, base: int, minimum: int, expected: int | None) -> None:
    assert resolve_amount(value, base, minimum=minimum) == expected


def _r(state: JobState, rollback: bool = False) -> JobResult:
    return JobResult(MachineRef("s", "rg", "m"), "apply", 1, state, rollback=rollback)


def test_run_status() -> None:
    ok = [_r(JobState.SUCCEEDED)]
    assert run_status(ok, breached=False, on_breach="halt", interrupted=False) == ("succeeded", 0)
    mixed = [_r(JobState.SUCCEEDED), _r(JobState.FAILED)]
    assert run_status(mixed, breached=False, on_breach="halt", interrupted=False) == ("failed", 1)
    assert run_status(mixed, breached=True, on_breach="halt", interrupted=False) == ("halted", 3)
    assert run_status(mixed, breached=True, on_breach="continue", interrupted=False) == ("failed", 1)
    unreachable = [_r(JobState.SUCCEEDED), _r(JobState.UNREACHABLE)]
    assert run_status(unreachable, breached=False, on_breach="halt", interrupted=False) == ("unreachable", 4)
    rollback_failed = [_r(JobState.SUCCEEDED), _r(JobState.FAILED, rollback=True)]
    assert run_status(rollback_failed, breached=False, on_breach="halt", interrupted=False)[1] == 0
    assert run_status(ok, breached=False, on_breach="halt", interrupted=True) == ("interrupted", 130)
