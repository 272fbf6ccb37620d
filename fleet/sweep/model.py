"""Sweep values: checks as declared, their raw results from a machine, and judged results.

A check is a read-only question asked of every machine (``is SMBv1 off?``). The playbook
declares checks; the compiler turns them into one script per OS; the protocol parser turns each
machine's output back into :class:`RawResult` values; :func:`fleet.sweep.evaluate.judge` turns
those into :class:`CheckResult` values that the matrix, history and drift work with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, get_args

__all__ = [
    "COMPARE_KINDS",
    "COMPARE_OPS",
    "OS_NAMES",
    "RAW_STATES",
    "SEVERITIES",
    "Check",
    "CheckResult",
    "Compare",
    "CompareKind",
    "CompareOp",
    "Expectation",
    "RawResult",
    "RawState",
    "Severity",
    "Status",
]

OS_NAMES = ("linux", "windows")
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[CompareOp, ...] = get_args(CompareOp)
CompareKind = Literal["string", "number", "version"]  # written `type:` in a playbook
COMPARE_KINDS: tuple[CompareKind, ...] = get_args(CompareKind)
RawState = Literal["done", "timeout", "error"]
RAW_STATES: tuple[RawState, ...] = get_args(RawState)


class Status(StrEnum):
    """One cell of the compliance matrix."""

    PASS = "pass"  # the check ran and met its expectation
    FAIL = "fail"  # the check ran and did not meet its expectation
    ERROR = "error"  # the check itself broke: timed out, crashed, or its result line is missing
    UNKNOWN = "unknown"  # the machine never answered (unreachable, skipped, no output at all)
    NA = "n/a"  # the check has no snippet for this machine's OS


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison on a value parsed from the output: ``extract`` is a regex whose first group
    (or whole match) is the value; it is compared with ``value`` by ``op`` as ``kind``."""

    op: CompareOp
    value: str
    kind: CompareKind = "string"
    extract: str | None = None  # None: the whole output, stripped


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a passing check looks like. Every given criterion must hold."""

    exit_codes: tuple[int, ...] = (0,)
    output_matches: tuple[str, ...] = ()  # each must match somewhere (multi-line search)
    output_not_matches: tuple[str, ...] = ()  # none may match
    compare: Compare | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One check as declared. ``snippets`` maps OS name to the snippet (a Jinja template, rendered
    per machine with the OS's shell quoting)."""

    id: str
    title: str
    severity: Severity = "medium"
    rationale: str = ""
    snippets: tuple[tuple[str, str], ...] = ()
    expect: Expectation = field(default_factory=Expectation)
    timeout_s: int = 30
    line: int | None = None

    def snippet(self, os_name: str) -> str | None:
        for name, text in self.snippets:
            if name == os_name:
                return text
        return None


@dataclass(frozen=True, slots=True)
class RawResult:
    """What the runner reported for one check: ``state`` is ``done`` (it exited), ``timeout``
    (killed at its timeout) or ``error`` (could not be started)."""

    check_id: str
    state: RawState
    exit_code: int | None
    output: str
    output_bytes: int  # size of the full output; ``output`` may be a prefix of it
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One judged cell: ``detail`` says why (never empty for fail/error/unknown), ``value`` is a
    short excerpt of what the check printed (or the compared value)."""

    check_id: str
    status: Status
    detail: str = ""
    value: str = ""
