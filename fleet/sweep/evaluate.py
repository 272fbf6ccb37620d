"""Judge raw results: one machine's runner output -> one :class:`CheckResult` per check.

Rules that keep a sweep honest: a check is ``pass`` only when its own result line is present,
well-formed and meets every expectation on output fleet actually saw. A missing line, a cut
output, a timeout or a crash is ``error``; a machine that never ran anything is ``unknown``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from fleet.sweep.model import Check, CheckResult, Compare, Expectation, RawResult, Status
from fleet.sweep.protocol import ParsedOutput, parse_output
from fleet.types import JobResult, JobState

__all__ = ["judge", "judge_machine"]

VALUE_CHARS = 120
# Job states in which the runner never ran (or fleet could not see it run): no data at all.
NEVER_RAN = (JobState.PENDING, JobState.DISPATCHED, JobState.RUNNING, JobState.UNREACHABLE,
             JobState.STUCK, JobState.ERROR, JobState.SKIPPED, JobState.UNKNOWN)


def _excerpt(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= VALUE_CHARS else line[: VALUE_CHARS - 1] + "…"
    return ""


def _shown(pattern: str) -> str:
    """A pattern as it was written (``'\\S'`` in repr reads like two backslashes)."""
    return "/" + pattern.replace("/", "\\/") + "/"


def _matching_line(output: str, match: re.Match[str]) -> str:
    """The whole line a match is on (a match may be one character: the line says why)."""
    start = output.rfind("\n", 0, match.start()) + 1
    end = output.find("\n", match.end())
    return _excerpt(output[start : end if end >= 0 else len(output)]) or _excerpt(match.group(0))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _compared(compare: Compare, output: str) -> tuple[bool | None, str, str]:
    """(holds?, the value, why not). ``None``: the value could not be read."""
    if compare.extract is None:
        value = output.strip()
    else:
        match = re.search(compare.extract, output, re.MULTILINE)
        if match is None:
            return None, "", f"no value matched {compare.extract!r}"
        value = (match.group(1) if match.re.groups else match.group(0)).strip()
    left: object
    right: object
    if compare.kind == "number":
        try:
            left, right = float(value), float(compare.value)
        except ValueError:
            return None, value, f"{value[:40]!r} is not a number"
        if math.isnan(left):
            return None, value, "value is NaN"
    elif compare.kind == "version":
        left, right = _version(value), _version(compare.value)
        if not left:
            return None, value, f"{value[:40]!r} is not a version"
    else:
        left, right = value, compare.value
    holds = {
        "==": left == right, "!=": left != right,
        "<": left < right, "<=": left <= right,  # type: ignore[operator]
        ">": left > right, ">=": left >= right,  # type: ignore[operator]
    }[compare.op]
    return holds, value, "" if holds else f"{value[:40]!r} {compare.op} {compare.value!r} is false"


def _evaluate(expect: Expectation, raw: RawResult) -> CheckResult:
    assert raw.exit_code is not None
    output = raw.output
    cut = raw.output_bytes > len(output.encode())
    value = _excerpt(output)
    if raw.exit_code not in expect.exit_codes:
        shown = ", ".join(str(c) for c in expect.exit_codes)
        detail = f"exit code {raw.exit_code} (expected {shown})"
        if raw.stderr.strip():
            detail += f": {_excerpt(raw.stderr)}"
        return CheckResult(raw.check_id, Status.FAIL, detail, value)
    for pattern in expect.output_matches:
        if not re.search(pattern, output, re.MULTILINE):
            if cut:
                return CheckResult(raw.check_id, Status.ERROR, f"output larger than the "
                                   f"{len(output.encode())} bytes kept; {pattern!r} not seen in "
                                   "them", value)
            return CheckResult(raw.check_id, Status.FAIL,
                               f"output does not match {_shown(pattern)}", value)
    for pattern in expect.output_not_matches:
        match = re.search(pattern, output, re.MULTILINE)
        if match:
            return CheckResult(raw.check_id, Status.FAIL,
                               f"output matches {_shown(pattern)}: {_matching_line(output, match)!r}",
                               value)
    if cut and expect.output_not_matches:
        return CheckResult(raw.check_id, Status.ERROR, f"output larger than the "
                           f"{len(output.encode())} bytes kept; cannot rule out "
                           f"{expect.output_not_matches[0]!r}", value)
    if expect.compare is not None:
        holds, compared, why = _compared(expect.compare, output)
        if holds is None:
            status = Status.ERROR if cut else Status.FAIL
            return CheckResult(raw.check_id, status, why, compared or value)
        if not holds:
            return CheckResult(raw.check_id, Status.FAIL, why, compared)
        value = compared
    return CheckResult(raw.check_id, Status.PASS, "", value)


def judge(check: Check, raw: RawResult) -> CheckResult:
    """One check's result line -> its cell."""
    if raw.state == "timeout":
        return CheckResult(check.id, Status.ERROR, f"timed out after {check.timeout_s}s",
                           _excerpt(raw.output))
    if raw.state != "done" or raw.exit_code is None:
        why = _excerpt(raw.stderr) or "the runner could not start it"
        return CheckResult(check.id, Status.ERROR, f"check did not run: {why}")
    return _evaluate(check.expect, raw)


def _missing_reason(job: JobResult, parsed: ParsedOutput) -> str:
    if job.state == JobState.TIMED_OUT:
        return "no result line: the run command timed out before this check reported"
    if job.state == JobState.CANCELED:
        return "no result line: the run command was canceled"
    if job.output.truncated:
        return "no result line: the output was truncated"
    if not parsed.begun:
        source = job.output.source
        return ("no result line: no runner output" + (f" (output {source})" if source != "blob"
                                                      else ""))
    if not parsed.ended:
        return "no result line: the output ends before the runner finished (truncated?)"
    return "no result line for this check"


def _exited_cleanly(job: JobResult) -> bool:
    return job.state == JobState.SUCCEEDED and job.exit_code in (0, None)


def judge_machine(checks: Sequence[Check], os_name: str, job: JobResult | None,
                  output: str | None, nonce: str) -> tuple[list[CheckResult], tuple[str, ...]]:
    """All cells of one machine, and notes about its output (garbled lines and the like).
    ``job`` is None when the plan never got to this machine; ``output`` the runner's stdout."""
    if job is None or job.state in NEVER_RAN or (output is None and job.state != JobState.SUCCEEDED
                                                  and job.exit_code is None):
        why = "not run" if job is None else f"machine {job.state.value}"
        if job is not None and job.reason:
            why += f": {job.reason}"
        return [CheckResult(c.id, Status.NA if c.snippet(os_name) is None else Status.UNKNOWN,
                            "" if c.snippet(os_name) is None else why) for c in checks], ()
    ids = [c.id for c in checks if c.snippet(os_name) is not None]
    parsed = parse_output(output or "", nonce, ids)
    cells = []
    for check in checks:
        if check.snippet(os_name) is None:
            cells.append(CheckResult(check.id, Status.NA))
        elif check.id in parsed.bad_ids:
            cells.append(CheckResult(check.id, Status.ERROR, "garbled or duplicate result line"))
        elif check.id in parsed.results:
            cells.append(judge(check, parsed.results[check.id]))
        else:
            cells.append(CheckResult(check.id, Status.ERROR, _missing_reason(job, parsed)))
    if not _exited_cleanly(job):
        # The runner ends with exit 0 after its END line; anything else (killed: 137, timed
        # out, failed) means a pass cannot be trusted: a check that read the nonce could have
        # printed its own RESULT and END lines and killed the runner. Fails stay fails.
        code = "none" if job.exit_code is None else str(job.exit_code)
        why = (f"reported pass, but the check runner did not exit cleanly ({job.state.value}, "
               f"exit {code}): not trusted")
        cells = [CheckResult(c.check_id, Status.ERROR, why) if c.status == Status.PASS else c
                 for c in cells]
    return cells, parsed.problems
