"""Turn what ARM says about a run command into a job state, and decide step conditions.

Pure functions. ``executionState`` decides, never ``provisioningState`` alone: ARM's docs say
provisioning only tells whether the agent could start the script (API.md §4 item 11).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fleet.plan.model import Success
from fleet.types import JobState

__all__ = [
    "TERMINAL_EXECUTION",
    "evaluate_when",
    "is_terminal",
    "judge",
    "parse_agent_version",
]

TERMINAL_EXECUTION = frozenset({"succeeded", "failed", "timedout", "canceled"})
TERMINAL_PROVISIONING = frozenset({"failed", "canceled"})


class ViewLike(Protocol):
    @property
    def provisioning_state(self) -> str | None: ...
    @property
    def execution_state(self) -> str | None: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def execution_message(self) -> str | None: ...


def is_terminal(view: ViewLike) -> bool:
    execution = (view.execution_state or "").lower()
    provisioning = (view.provisioning_state or "").lower()
    if execution in TERMINAL_EXECUTION:
        return True
    # Provisioning failed and the script never ran: nothing more will happen.
    return provisioning in TERMINAL_PROVISIONING and execution in ("", "unknown", "pending")


def judge(view: ViewLike, success: Success, output_text: str | None) -> tuple[JobState, str | None]:
    """The job's final state and, if not succeeded, why. ``output_text`` is the full decoded
    stdout when it could be read (None: patterns cannot be checked, which fails the job if the
    step has any)."""
    execution = (view.execution_state or "").lower()
    code = view.exit_code
    message = (view.execution_message or "").strip() or None
    if execution == "timedout":
        return JobState.TIMED_OUT, message or "the agent reported TimedOut"
    if execution == "canceled":
        return JobState.CANCELED, message or "the run command was canceled"
    if execution not in ("succeeded", "failed"):
        provisioning = view.provisioning_state or "unknown"
        return JobState.ERROR, message or f"provisioning {provisioning}, script did not run"
    if code is None:
        code = 0 if execution == "succeeded" else None
    if code is None or code not in success.exit_codes:
        shown = "none" if code is None else str(code)
        return JobState.FAILED, f"exit code {shown} (expected {_codes(success.exit_codes)})"
    if success.output_must_match or success.output_must_not_match:
        if output_text is None:
            return JobState.FAILED, "output patterns could not be checked: no output was readable"
        for pattern in success.output_must_match:
            if not re.search(pattern, output_text, re.MULTILINE):
                return JobState.FAILED, f"output does not match {pattern!r}"
        for pattern in success.output_must_not_match:
            if re.search(pattern, output_text, re.MULTILINE):
                return JobState.FAILED, f"output matches forbidden {pattern!r}"
    return JobState.SUCCEEDED, None


def _codes(codes: tuple[int, ...]) -> str:
    return ", ".join(str(c) for c in codes)


def parse_agent_version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:4]) if parts else None


_WHEN_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def evaluate_when(expression: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a step's ``when:`` expression in the sandbox. Raises ``ValueError`` with a
    readable message when the expression is broken (the job is then reported as error)."""
    try:
        compiled = _WHEN_ENV.compile_expression(expression, undefined_to_none=False)
        return bool(compiled(**context))
    except TemplateError as error:
        raise ValueError(f"when: {expression!r}: {error}") from error
