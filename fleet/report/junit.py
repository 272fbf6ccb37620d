"""junit.xml: one test case per machine and step, for CI systems.

failed and timed_out are ``<failure>``; error, stuck and unreachable are ``<error>`` (the
command could not be judged); skipped, canceled and unfinished jobs are ``<skipped>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fleet.report.facts import failures_first, row_notes
from fleet.report.text import duration_s, xml_safe
from fleet.types import JobResult, JobState, RunRecord

__all__ = ["render_junit"]

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


def _case(parent: ET.Element, record: RunRecord, result: JobResult) -> tuple[int, int, int]:
    seconds = duration_s(result.started_at, result.ended_at)
    case = ET.SubElement(
        parent,
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
    failure = error = skipped = 0
    body = result.error.excerpt or result.output.excerpt
    if result.state in _FAILURE:
        ET.SubElement(case, "failure", message=_message(result), type=result.state.value).text = (
            xml_safe(body)
        )
        failure = 1
    elif result.state in _ERROR:
        ET.SubElement(case, "error", message=_message(result), type=result.state.value).text = (
            xml_safe(body)
        )
        error = 1
    elif result.state is not JobState.SUCCEEDED:
        ET.SubElement(case, "skipped", message=_message(result))
        skipped = 1
    if result.output.excerpt:
        ET.SubElement(case, "system-out").text = xml_safe(result.output.excerpt)
    if result.error.excerpt:
        ET.SubElement(case, "system-err").text = xml_safe(result.error.excerpt)
    return failure, error, skipped


def render_junit(record: RunRecord) -> str:
    root = ET.Element("testsuites", name=xml_safe(f"fleet run {record.run_id}"))
    suites: dict[str, ET.Element] = {}
    totals: dict[str, list[int]] = {}
    for result in failures_first(record.results):
        name = _suite_name(result)
        if name not in suites:
            suites[name] = ET.SubElement(root, "testsuite", name=xml_safe(name))
            totals[name] = [0, 0, 0, 0]
        f, e, s = _case(suites[name], record, result)
        count = totals[name]
        count[0] += 1
        count[1] += f
        count[2] += e
        count[3] += s
    grand = [0, 0, 0, 0]
    for name, suite in suites.items():
        tests, failures, errors, skipped = totals[name]
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
        grand = [a + b for a, b in zip(grand, totals[name], strict=True)]
    root.set("tests", str(grand[0]))
    root.set("failures", str(grand[1]))
    root.set("errors", str(grand[2]))
    root.set("skipped", str(grand[3]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
