"""The terminal recap after a run, like Ansible's PLAY RECAP but for thousands of machines:
only the machines that did not succeed (worst first, with the reason), the totals, the top
failure reasons grouped with counts, and one verdict. Every line fits 80 columns."""

from __future__ import annotations

import re
from collections import Counter

from fleet.report.facts import EXIT_MEANINGS, SEVERITY, machine_outcomes, reason_of
from fleet.report.text import duration_s, format_duration
from fleet.termtext import clean
from fleet.types import JobResult, JobState, RunRecord

__all__ = ["WIDTH", "plural", "recap_text"]

WIDTH = 80
_RANK = {state: i for i, state in enumerate(SEVERITY)}
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_COLOURS = {
    JobState.SUCCEEDED: "32", JobState.FAILED: "31", JobState.ERROR: "31", JobState.STUCK: "31",
    JobState.TIMED_OUT: "31", JobState.UNREACHABLE: "33", JobState.CANCELED: "35",
    JobState.SKIPPED: "36", JobState.UNKNOWN: "31",
}


def plural(count: int, word: str) -> str:
    """``1 machine``, ``2 machines``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _printable(text: str) -> str:
    # Machine names and reasons come from inventories, Azure and agents: never let one drive
    # the terminal (C0/C1 controls become "?", bidi overrides and the like visible escapes).
    return clean(_UNPRINTABLE.sub("?", text), single_line=True)


def _fit(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _paint(text: str, state: JobState, colour: bool) -> str:
    code = _COLOURS.get(state)
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def _counts_as_done(result: JobResult) -> bool:
    """Succeeded, or skipped by a ``when:`` that was false: nothing to look at."""
    return result.state == JobState.SUCCEEDED or (
        result.state == JobState.SKIPPED and (result.reason or "").startswith("when:")
    )


def recap_text(
    record: RunRecord, *, max_machines: int = 20, colour: bool = False, verdict: bool = True
) -> str:
    """Plain text for the terminal (ANSI colours only with ``colour``). At most
    ``max_machines`` machine lines, only machines that did not succeed. Never output text.
    Without ``verdict`` (a sweep gives its own), no ``status:`` line."""
    jobs: dict[str, list[JobResult]] = {}
    for result in record.results:
        jobs.setdefault(result.machine.key, []).append(result)
    outcomes = machine_outcomes(record)
    names = Counter(r[0].machine.name.lower() for r in jobs.values())

    def label(result: JobResult) -> str:
        m = result.machine
        shown = m.name if names[m.name.lower()] == 1 else f"{m.resource_group}/{m.name}"
        return _printable(shown)

    def worst(key: str) -> JobResult:
        main = [r for r in jobs[key] if not r.rollback] or jobs[key]
        return min(main, key=lambda r: _RANK[r.state])

    head = f"RECAP · run {_printable(record.run_id)} · playbook {_printable(record.playbook_name)} "
    lines = [_fit(head + "─" * max(3, WIDTH - len(head)))]
    bad = [k for k in jobs if not all(_counts_as_done(r) for r in jobs[k] if not r.rollback)]
    bad.sort(key=lambda k: (_RANK[outcomes[k]], label(jobs[k][0]).lower()))
    # Skipped machines (held back by the policy) are counted under "top reasons", not listed.
    listed = [k for k in bad if outcomes[k] != JobState.SKIPPED]
    shown = listed[:max_machines]
    width = min(28, max((len(label(jobs[k][0])) for k in shown), default=8))
    reasons: Counter[str] = Counter()
    for key in bad:
        result = worst(key)
        reasons[_printable(reason_of(result).replace(result.machine.name, "<machine>"))] += 1
    for key in shown:
        result = worst(key)
        state = outcomes[key]
        name = label(result)
        name = name if len(name) <= width else name[: width - 1] + "…"
        step = f"{_printable(result.step)}: " if len({r.step for r in jobs[key]}) > 1 else ""
        text = _fit(f"  {name:<{width}} {state.value:<11}  {step}{_printable(reason_of(result))}")
        lines.append(text.replace(f" {state.value} ", " " + _paint(state.value, state, colour) + " ", 1))
    if len(listed) > len(shown):
        tally = Counter(outcomes[k] for k in listed[max_machines:])
        lines.append(_fit(
            f"  … and {len(listed) - len(shown)} more: "
            + ", ".join(f"{n} {s.value}" for s, n in sorted(tally.items(), key=lambda i: _RANK[i[0]]))
            + " (report.html lists them all)"
        ))
    machine_tally = Counter(o for o in outcomes.values())
    summary = ", ".join(
        _paint(f"{machine_tally[s]} {s.value}", s, colour) for s in SEVERITY[::-1] if machine_tally[s]
    )
    lines.append(f"{plural(len(outcomes), 'machine')}: {summary or 'none'}")
    if reasons:
        lines.append("top reasons:")
        for reason, count in reasons.most_common(5):
            lines.append(_fit(f"  {count:>5} x {reason}"))
        if len(reasons) > 5:
            lines.append(f"  … and {plural(len(reasons) - 5, 'other reason')}")
    for note in record.notes:
        lines.append(_fit(f"note: {_printable(note)}"))
    if not record.storage:
        lines.append("no storage configured: outputs are instanceView's last 4 KB only")
    took = format_duration(duration_s(record.started_at, record.finished_at))
    meaning = EXIT_MEANINGS.get(record.exit_code, "")
    throttled = f", {record.throttled} throttled" if record.throttled else ""
    total = record.arm_requests.get("total", sum(record.arm_requests.values()))
    if verdict:
        lines.append(_fit(f"status: {_printable(record.status)} (exit {record.exit_code}"
                          f"{': ' + meaning if meaning else ''})"))
    lines.append(f"took {took} · {plural(total, 'ARM request')}{throttled}")
    return "\n".join(lines) + "\n"
