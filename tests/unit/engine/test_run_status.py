"""A run's status never claims more than happened (issue #13 A4, A3)."""

from __future__ import annotations

import pytest

from fleet.engine.record import run_status
from fleet.types import JobState
from tests.unit.report.records import job


def status(*rows: tuple[JobState, str | None]) -> tuple[str, int]:
    results = [job(f"m{i}", state, reason=reason) for i, (state, reason) in enumerate(rows)]
    return run_status(results, breached=False, on_breach="halt", interrupted=False)


OK = (JobState.SUCCEEDED, None)


@pytest.mark.parametrize(("held", "expected"), [
    ((JobState.SKIPPED, "run canceled by the operator"), ("canceled", 130)),
    ((JobState.SKIPPED, "canceled by the operator"), ("canceled", 130)),
    ((JobState.SKIPPED, "halted by the rollout policy"), ("halted", 3)),
    ((JobState.SKIPPED, "outcome unknown: not sent again (--resolve-unknown skip)"), ("failed", 1)),
    ((JobState.UNKNOWN, "unknown: command gone"), ("unresolved", 1)),
    ((JobState.SKIPPED, "when: previous.failed is false"), ("succeeded", 0)),
])
def test_held_back_machines_are_never_reported_as_success(held, expected) -> None:  # type: ignore[no-untyped-def]
    assert status(OK, OK, held) == expected
