"""summary.md: the run on one page of Markdown (for a PR comment, a ticket, a chat).

Every value that came from a machine or the inventory is escaped for table cells, and output
excerpts sit in code fences longer than any run of backticks inside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fleet.report.facts import EXIT_MEANINGS, failures_first, row_notes, state_counts
from fleet.report.groups import OutputGroup, output_groups
from fleet.report.text import duration_s, format_duration
from fleet.types import JobResult, JobState, RunRecord

__all__ = ["iter_markdown", "md_cell", "md_fence", "render_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_GROUP_NAMES_SHOWN = 20


def md_cell(value: object) -> str:
    """One table cell: specials escaped, line breaks flattened."""
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def md_fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _group(group: OutputGroup) -> list[str]:
    states = ", ".join(f"{s} {n}" for s, n in group.states)
    names = ", ".join(md_cell(m.name) for m in group.machines[:_GROUP_NAMES_SHOWN])
    more = len(group.machines) - _GROUP_NAMES_SHOWN
    if more > 0:
        names += f" and {more} more"
    codes = ", ".join("-" if c is None else str(c) for c in group.exit_codes)
    lines = [
        f"### {group.id}: {group.count} machine{'s' if group.count != 1 else ''} · step "
        f"{md_cell(group.step)} · {group.stream} · {states}",
        "",
        f"exit codes: {codes} · {group.size_bytes} bytes"
        + (" · truncated" if group.truncated else "")
        + f" · sha256 `{group.sha256[:12]}`",
        "",
        md_fence(group.excerpt) if group.excerpt else "*(empty)*",
        "",
        f"Machines: {names}",
        "",
    ]
    return lines


def _row(result: JobResult) -> str:
    cells = [
        result.machine.name,
        result.step + (" (rollback)" if result.rollback else ""),
        result.wave + 1,
        result.state.value,
        "-" if result.exit_code is None else result.exit_code,
        format_duration(duration_s(result.started_at, result.ended_at)),
        result.attempts,
        "; ".join(p for p in (result.reason or "", *row_notes(result)) if p),
    ]
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"


_HEADER = [
    "| machine | step | wave | state | exit | duration | attempts | reason |",
    "|---|---|---:|---|---:|---:|---:|---|",
]


def iter_markdown(record: RunRecord) -> Iterator[str]:
    """summary.md as chunks of lines, the machine tables one row at a time."""
    counts = {s: n for s, n in state_counts(record.results).items() if n}
    meaning = EXIT_MEANINGS.get(record.exit_code, "")
    out = [
        f"# fleet run {md_cell(record.run_id)}: {md_cell(record.playbook_name)}",
        "",
        f"**{md_cell(record.status)}** (exit {record.exit_code}{': ' + meaning if meaning else ''})"
        f" · started {md_cell(record.started_at or '-')} · finished {md_cell(record.finished_at or '-')}"
        f" · took {format_duration(duration_s(record.started_at, record.finished_at))}",
        "",
        "| " + " | ".join(counts) + " | total |" if counts else "| total |",
        "|" + "---:|" * (len(counts) + 1),
        "| " + " | ".join(str(n) for n in counts.values()) + f" | {len(record.results)} |"
        if counts
        else f"| {len(record.results)} |",
        "",
    ]
    arm = ", ".join(f"{k} {v}" for k, v in record.arm_requests.items())
    out += [f"ARM requests: {arm or 'none recorded'} · throttled (429): {record.throttled}", ""]
    if not record.storage:
        out += ["> **No storage configured**: only instanceView's last 4 KB of each output was available.", ""]
    out += [f"> {md_cell(note)}" for note in record.notes]
    if record.notes:
        out.append("")
    if record.waves:
        out += ["## Waves", "", "| wave | machines | state | started | took |", "|---:|---:|---|---|---:|"]
        for w in record.waves:
            took = format_duration(duration_s(w.started_at, w.ended_at))
            out.append(f"| {'rollback' if w.index < 0 else w.index + 1} | {w.machines} | {md_cell(w.state)} | {md_cell(w.started_at or '-')} | {took} |")
        out.append("")
    yield from _lines(out)
    for group in output_groups(record.results):
        if group.id == "g1":
            yield from _lines(["## Output groups", ""])
        yield from _lines(_group(group))
    ordered = failures_first(record.results)
    if any(r.state is not JobState.SUCCEEDED or row_notes(r) for r in ordered):
        yield from _lines(["## Needs attention", "", *_HEADER])
        for result in ordered:
            if result.state is not JobState.SUCCEEDED or row_notes(result):
                yield _row(result) + "\n"
        yield "\n"
    yield from _lines(["## All machines", "", *_HEADER])
    for result in ordered:
        yield _row(result) + "\n"


def _lines(lines: list[str]) -> Iterator[str]:
    yield "".join(line + "\n" for line in lines)


def render_markdown(record: RunRecord) -> str:
    return "".join(iter_markdown(record))
