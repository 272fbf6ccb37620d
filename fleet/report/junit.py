"""junit.xml: one test case per machine and step, for CI systems.

failed and timed_out are ``<failure>``; error, stuck and unreachable are ``<error>`` (the
command could not be judged); skipped, canceled and unfinished jobs are ``<skipped>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from xml.sax.saxutils import quoteattr

from fleet.report.facts import failures_first, row_notes
from fleet.report.text import duration_s, xml_safe
from fleet.types import JobResult, JobState, RunRecord

__all__ = ["iter_junit", "render_junit"]

_FAILURE = (JobState.FAILED, JobState.TIMED_OUT)
_ERROR = (JobState.ERROR, JobState.STUCK, JobState.UNREACHABLE, JobState.UNKNOWN)


def _suite_name(result: JobResult) -> str:
    return f"rollback: {result.step}" if result.rollback else result.step


def _message(result: JobResult) -> str:
    parts = [result.state.value]
    if result.exit_code is not None:
        parts.append(f"exit code {result.exit_code}")
    if result.reason:
        parts.append(result.reason)
    return xml_safe("; ".join(parts))


def _case(record: RunRecord, result: JobResult) -> ET.Element:
    seconds = duration_s(result.started_at, result.ended_at)
    case = ET.Element(
        "testcase",
        classname=xml_safe(f"{record.playbook_name}.{_suite_name(result)}"),
        name=xml_safe(result.machine.name),
        time=f"{seconds or 0.0:.3f}",
    )
    props = ET.SubElement(case, "properties")
    for name, value in (
        ("machine_id", result.machine.resource_id),
        ("wave", str(result.wave)),
        ("attempts", str(result.attempts)),
        *(("note", n) for n in row_notes(result)),
    ):
        ET.SubElement(props, "property", name=name, value=xml_safe(value))
    body = result.error.excerpt or result.output.excerpt
    if result.state in _FAILURE:
        ET.SubElement(case, "failure", message=_message(result), type=result.state.value).text = (
            xml_safe(body)
        )
    elif result.state in _ERROR:
        ET.SubElement(case, "error", message=_message(result), type=result.state.value).text = (
            xml_safe(body)
        )
    elif result.state is not JobState.SUCCEEDED:
        ET.SubElement(case, "skipped", message=_message(result))
    if result.output.excerpt:
        ET.SubElement(case, "system-out").text = xml_safe(result.output.excerpt)
    if result.error.excerpt:
        ET.SubElement(case, "system-err").text = xml_safe(result.error.excerpt)
    return case


def _kind(result: JobResult) -> int:
    """Which total a case adds to: 1 failures, 2 errors, 3 skipped, 0 none."""
    if result.state in _FAILURE:
        return 1
    if result.state in _ERROR:
        return 2
    return 0 if result.state is JobState.SUCCEEDED else 3


def _open_tag(tag: str, name: str, totals: list[int], indent: str) -> str:
    return (
        f'{indent}<{tag} name={quoteattr(xml_safe(name))} tests="{totals[0]}" '
        f'failures="{totals[1]}" errors="{totals[2]}" skipped="{totals[3]}">\n'
    )


def iter_junit(record: RunRecord) -> Iterator[str]:
    """junit.xml as chunks, one test case at a time: the totals of every suite are counted
    first (a pass over the results), then each suite's cases are written in turn."""
    ordered = failures_first(record.results)
    totals: dict[str, list[int]] = {}
    for result in ordered:
        count = totals.setdefault(_suite_name(result), [0, 0, 0, 0])
        count[0] += 1
        kind = _kind(result)
        if kind:
            count[kind] += 1
    grand = [sum(t[i] for t in totals.values()) for i in range(4)]
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield _open_tag("testsuites", f"fleet run {record.run_id}", grand, "")
    for suite, counts in totals.items():
        yield _open_tag("testsuite", suite, counts, "  ")
        for result in ordered:
            if _suite_name(result) == suite:
                case = _case(record, result)
                ET.indent(case, space="  ", level=2)
                yield "    " + ET.tostring(case, encoding="unicode").rstrip() + "\n"
        yield "  </testsuite>\n"
    yield "</testsuites>\n"


def render_junit(record: RunRecord) -> str:
    return "".join(iter_junit(record))
