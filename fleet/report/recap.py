"""The terminal recap after a run, like Ansible's PLAY RECAP: one line per machine with counts
of its jobs by state, worst machines first, then one line of totals and the status."""

from __future__ import annotations

import re
from collections import Counter

from fleet.report.facts import EXIT_MEANINGS, SEVERITY, machine_outcomes
from fleet.report.text import duration_s, format_duration
from fleet.types import JobResult, JobState, RunRecord

__all__ = ["recap_text"]

_COLUMNS: tuple[tuple[str, tuple[JobState, ...]], ...] = (
    ("succeeded", (JobState.SUCCEEDED,)),
    ("failed", (JobState.FAILED,)),
    ("timed_out", (JobState.TIMED_OUT,)),
    ("error", (JobState.ERROR, JobState.STUCK)),
    ("unreachable", (JobState.UNREACHABLE,)),
    ("skipped", (JobState.SKIPPED, JobState.CANCELED)),
    ("unfinished", (JobState.PENDING, JobState.DISPATCHED, JobState.RUNNING)),
)
_RANK = {state: i for i, state in enumerate(SEVERITY)}
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    # Machine names come from the inventory or Azure: never let one drive the terminal.
    return _UNPRINTABLE.sub("?", text)


def recap_text(record: RunRecord, *, max_machines: int = 50) -> str:
    """Plain text for the terminal. At most ``max_machines`` machine lines (worst first); the
    rest are summed up in one line. Never includes output text."""
    jobs: dict[str, list[JobResult]] = {}
    for result in record.results:
        jobs.setdefault(result.machine.key, []).append(result)
    outcomes = machine_outcomes(record)
    names = Counter(r[0].machine.name.lower() for r in jobs.values())

    def label(result: JobResult) -> str:
        m = result.machine
        shown = m.name if names[m.name.lower()] == 1 else f"{m.resource_group}/{m.name}"
        return _printable(shown)

    order = sorted(jobs, key=lambda k: (_RANK[outcomes[k]], label(jobs[k][0]).lower()))
    shown = order[:max_machines]
    width = min(40, max((len(label(jobs[k][0])) for k in shown), default=8))
    head = f"RECAP · run {_printable(record.run_id)} · playbook {_printable(record.playbook_name)} "
    lines = [head + "*" * max(3, 78 - len(head))]
    for key in shown:
        counts = Counter(r.state for r in jobs[key])
        cells = " ".join(
            f"{name}={sum(counts[s] for s in states)}".ljust(len(name) + 4) for name, states in _COLUMNS
        )
        lines.append(f"{label(jobs[key][0]):<{width}} : {cells.rstrip()}")
    hidden = order[max_machines:]
    if hidden:
        tally = Counter(outcomes[k].value for k in hidden)
        lines.append(
            f"… and {len(hidden)} more machines: "
            + ", ".join(f"{n} {s}" for s, n in sorted(tally.items(), key=lambda i: _RANK[JobState(i[0])]))
        )
    machine_tally = Counter(o.value for o in outcomes.values())
    summary = ", ".join(
        f"{machine_tally[s.value]} {s.value}" for s in SEVERITY[::-1] if machine_tally[s.value]
    )
    lines.append("")
    lines.append(f"{len(outcomes)} machines: {summary or 'none'}")
    if not record.storage:
        lines.append("no storage configured: outputs are instanceView's last 4 KB only")
    took = format_duration(duration_s(record.started_at, record.finished_at))
    meaning = EXIT_MEANINGS.get(record.exit_code, "")
    throttled = f", {record.throttled} throttled" if record.throttled else ""
    total = record.arm_requests.get("total", sum(record.arm_requests.values()))
    lines.append(
        f"status: {_printable(record.status)} (exit {record.exit_code}"
        f"{': ' + meaning if meaning else ''}) · took {took} · {total} ARM requests{throttled}"
    )
    return "\n".join(lines) + "\n"
