"""report.html: one self-contained page (inline CSS and JS, no external asset, works offline).

A header whose badge, line and tiles all come from the same job counts; a timeline of the waves;
the machine table and the output groups, rendered by the page from its data, embedded once as
JSON (10,000 rows stay well under a megabyte of data instead of many megabytes of markup), with
filters by state and text and paging. Built from Jinja templates (``templates/report.*``) with
autoescape and a hashed Content-Security-Policy: see ``fleet.report.page``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from fleet.report.facts import EXIT_MEANINGS, failures_first, row_notes, state_counts
from fleet.report.groups import OutputGroup, output_groups
from fleet.report.page import island_json, stream_page
from fleet.report.text import duration_s, format_duration, parse_time
from fleet.types import JobResult, JobState, RunRecord

__all__ = ["TILE_STATES", "iter_html", "iter_report_data", "render_html"]

# Tiles, in order: label, the states they count (the table's state filter uses the same sets).
TILE_STATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("succeeded", "ok", (JobState.SUCCEEDED.value,)),
    ("failed", "bad", tuple(s.value for s in JobState if s.is_failure)),
    ("unreachable", "warn", (JobState.UNREACHABLE.value,)),
    ("canceled", "warn", (JobState.CANCELED.value,)),
    ("skipped", "mute", (JobState.SKIPPED.value,)),
    ("unfinished", "mute", tuple(s.value for s in JobState if not s.terminal)),
)
_ALWAYS_SHOWN = {"succeeded", "failed"}
# Columns of one row in the embedded data (the page's script reads them by these positions).
ROW_FIELDS = (
    "name", "subscription", "resource_group", "step", "rollback", "wave", "state", "exit_code",
    "duration", "attempts", "bytes", "reason", "output_group", "output_text", "error_group",
    "error_text",
)


class _Strings:
    """Repeated strings (subscriptions, groups, steps, states, reasons) stored once."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        index = self._index.get(value)
        if index is None:
            index = self._index[value] = len(self.table)
            self.table.append(value)
        return index


@dataclass(frozen=True, slots=True)
class _Tile:
    label: str
    css: str
    value: str
    filter: str  # the table's state filter a click selects ("" for no filter)


def _tiles(record: RunRecord, counts: dict[str, int]) -> list[_Tile]:
    tiles = [_Tile("jobs", "", str(len(record.results)), "all")]
    for label, css, states in TILE_STATES:
        count = sum(counts[s] for s in states)
        if count or label in _ALWAYS_SHOWN:
            tiles.append(_Tile(label, css if count else "", str(count), label))
    tiles += [
        _Tile("duration", "", format_duration(duration_s(record.started_at, record.finished_at)), ""),
        _Tile("ARM requests", "", str(record.arm_requests.get("total", sum(record.arm_requests.values()))), ""),
        _Tile("throttled (429)", "warn" if record.throttled else "", str(record.throttled), ""),
    ]
    return tiles


def _summary_line(record: RunRecord, counts: dict[str, int]) -> str:
    machines = len({r.machine.key for r in record.results})
    parts = []
    for label, _, states in TILE_STATES:
        count = sum(counts[s] for s in states)
        if count:
            parts.append(f"{count} {label}")
    jobs = len(record.results)
    head = f"{jobs} job{'s' if jobs != 1 else ''} on {machines} machine{'s' if machines != 1 else ''}"
    return head + (": " + ", ".join(parts) if parts else "")


@dataclass(frozen=True, slots=True)
class _Lane:
    name: str
    state: str
    x: float  # 0..1000 on the SVG track
    width: float
    title: str


def _timeline(record: RunRecord) -> list[_Lane]:
    waves = [w for w in record.waves if parse_time(w.started_at)]
    if not waves:
        return []
    starts = [parse_time(w.started_at) for w in waves]
    ends = [parse_time(w.ended_at) for w in waves]
    t0 = min(t for t in starts if t is not None)
    finish = parse_time(record.finished_at)
    t1 = max([t for t in (*ends, *starts, finish) if t is not None])
    span = max((t1 - t0).total_seconds(), 1e-9)
    lanes = []
    for wave, start, end in zip(waves, starts, ends, strict=True):
        assert start is not None
        x = (start - t0).total_seconds() / span * 1000
        width = max(((end or t1) - start).total_seconds() / span * 1000, 2.0)
        took = format_duration(duration_s(wave.started_at, wave.ended_at))
        name = _wave_name(wave.index)
        title = f"{name}: {wave.machines} machines, {wave.state}, {took}"
        lanes.append(_Lane(name, wave.state, round(x, 1), round(min(width, 1000 - x), 1), title))
    return lanes


def _group_data(group: OutputGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "step": group.step,
        "stream": group.stream,
        "count": group.count,
        "bytes": group.size_bytes,
        "truncated": group.truncated,
        "sha256": group.sha256[:16],
        "excerpt": group.excerpt,
        "states": [list(s) for s in group.states],
        "exit_codes": list(group.exit_codes),
        "failure": group.has_failure,
    }


def iter_report_data(record: RunRecord, groups: list[OutputGroup]) -> Iterator[Markup]:
    """What the page's script renders, as island-safe JSON chunks of one object: rows (worst
    first) as arrays of ``ROW_FIELDS`` written one at a time, strings stored once (written
    after the rows that collected them), output groups, and rows pointing at their group
    instead of repeating output."""
    strings = _Strings()
    # A row's capture belongs to the group of its (step, stream, digest): output_groups' key.
    by_key = {(g.step, g.stream, g.sha256): index for index, g in enumerate(groups)}

    def stream(result: JobResult, name: str) -> tuple[int, int]:
        capture = result.output if name == "output" else result.error
        digest = capture.group_sha256 or capture.sha256
        group = by_key.get((result.step, name, digest), -1) if digest else -1
        text = -1 if group >= 0 or not capture.excerpt else strings(capture.excerpt)
        return group, text

    yield Markup('{"fields":') + island_json(list(ROW_FIELDS))
    yield Markup(',"filters":') + island_json({label: list(states) for label, _, states in TILE_STATES})
    sep = Markup(',\n"groups":[\n')
    for group in groups:  # one at a time: with outputs all different, 10,000 groups
        yield sep + island_json(_group_data(group))
        sep = Markup(",\n")
    yield Markup("]" if groups else ',\n"groups":[]')
    yield Markup(',\n"rows":[')
    sep = Markup("\n")
    for result in failures_first(record.results):
        m = result.machine
        reason = "; ".join(p for p in (result.reason or "", *row_notes(result)) if p)
        seconds = duration_s(result.started_at, result.ended_at)
        row = [
            m.name, strings(m.subscription_id), strings(m.resource_group), strings(result.step),
            1 if result.rollback else 0, result.wave, strings(result.state.value), result.exit_code,
            strings(format_duration(seconds)) if seconds is not None else -1, result.attempts,
            result.output.size_bytes, strings(reason) if reason else -1,
            *stream(result, "output"), *stream(result, "error"),
        ]
        yield sep + island_json(row)
        sep = Markup(",\n")
    yield Markup('],\n"strings":') + island_json(strings.table) + Markup("}")


def _notes(record: RunRecord) -> Iterable[str]:
    if not record.storage:
        yield "No storage configured: only instanceView's last 4 KB of each output was available."
    yield from record.notes


def iter_html(record: RunRecord) -> Iterator[str]:
    """report.html as chunks: the page's markup, then its data island a row at a time."""
    counts = state_counts(record.results)
    meaning = EXIT_MEANINGS.get(record.exit_code, "")
    present = [(s.value, counts[s.value]) for s in JobState if counts[s.value]]
    groups = output_groups(record.results)
    return stream_page(
        "fleet.report",
        "report.html.j2",
        styles=("base.css", "report.css"),
        scripts=("report.js",),
        data_chunks=iter_report_data(record, groups),
        group_count=len(groups),
        record=record,
        jobs=len(record.results),
        exit_text=f"exit {record.exit_code}" + (f": {meaning}" if meaning else ""),
        summary_line=_summary_line(record, counts),
        tiles=_tiles(record, counts),
        notes=list(_notes(record)),
        lanes=_timeline(record),
        states_present=present,
        filters=[(label, sum(counts[s] for s in states)) for label, _, states in TILE_STATES],
    )


def render_html(record: RunRecord) -> str:
    return "".join(iter_html(record))


def _wave_name(index: int) -> str:
    """Waves are numbered from 1 for people (the JSON keeps the 0-based index)."""
    return "rollback" if index < 0 else f"wave {index + 1}"
