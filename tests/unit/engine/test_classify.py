from __future__ import annotations

from dataclasses import dataclass

import pytest

from fleet.engine.classify import evaluate_when, is_terminal, judge, parse_agent_version
from fleet.plan.model import Success
from fleet.types import JobState


@dataclass
class View:
    provisioning_state: str | None = "Succeeded"
    execution_state: str | None = "Succeeded"
    exit_code: int | None = 0
    execution_message: str | None = None


@pytest.mark.parametrize(
    ("view", "terminal"),
    [
        (View(), True),
        (View(execution_state="Running"), False),
        (View(provisioning_state="Creating", execution_state=None), False),
        (View(provisioning_state="Creating", execution_state="Pending"), False),
        (View(provisioning_state="Failed", execution_state=None), True),
        (View(provisioning_state="Succeeded", execution_state="Running"), False),  # asyncExecution
        (View(execution_state="TimedOut"), True),
        (View(execution_state="canceled"), True),
    ],
)
def test_terminal(view: View, terminal: bool) -> None:
    assert is_terminal(view) is terminal


def test_exit_code_decides_not_provisioning() -> None:
    state, reason = judge(View(execution_state="Failed", exit_code=3), Success(), "")
    assert state == JobState.FAILED and reason is not None and "exit code 3" in reason
    state, _ = judge(View(execution_state="Failed", exit_code=3), Success(exit_codes=(0, 3)), "")
    assert state == JobState.SUCCEEDED


def test_output_patterns() -> None:
    success = Success(output_must_match=(r"^SMB1=off$",), output_must_not_match=("ERROR",))
    assert judge(View(), success, "x\nSMB1=off\n")[0] == JobState.SUCCEEDED
    assert judge(View(), success, "SMB1=on\n")[0] == JobState.FAILED
    assert judge(View(), success, "SMB1=off\nERROR here")[0] == JobState.FAILED
    state, reason = judge(View(), success, None)
    assert state == JobState.FAILED and "could not be checked" in (reason or "")


def test_timed_out_canceled_and_never_ran() -> None:
    assert judge(View(execution_state="TimedOut"), Success(), "")[0] == JobState.TIMED_OUT
    assert judge(View(execution_state="Canceled"), Success(), "")[0] == JobState.CANCELED
    view = View(provisioning_state="Failed", execution_state=None, execution_message="agent offline")
    assert judge(view, Success(), None) == (JobState.ERROR, "agent offline")


def test_agent_version() -> None:
    assert parse_agent_version("1.33.02717.1234") == (1, 33, 2717, 1234)
    assert parse_agent_version(None) is None
    assert parse_agent_version("garbage") is None


def test_when_sandboxed() -> None:
    steps = {"check": {"state": "failed", "succeeded": False, "failed": True}}
    assert evaluate_when("steps.check.failed", {"steps": steps}) is True
    assert evaluate_when("not steps.check.succeeded", {"steps": steps}) is True
    with pytest.raises(ValueError, match="when"):
        evaluate_when("steps.nope.failed", {"steps": steps})
    with pytest.raises(ValueError):
        evaluate_when("().__class__.__mro__[1].__subclasses__()", {})
