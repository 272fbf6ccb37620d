"""compliance.html: one self-contained page that leads with what a reader acts on.

Top: the verdict, a score and the checks table (severity, pass rate, failing machines,
rationale), so the worst checks are on the first screen. Then drift since the previous sweep,
identical changes grouped (one line for "64 machines: pass -> fail", the names folded away).
Then the matrix, drawn by the page from data embedded once as JSON: filterable by machine,
check and status, machines with identical results grouped into one row (on from
``GROUP_FROM`` machines), sticky header row and machine column, scrolling inside its own box,
paged.

Built from Jinja templates (``templates/compliance.*``) with autoescape and the hashed CSP of
``fleet.report.page``; machine names and check output are untrusted and only ever become text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fleet.report.page import render_page
from fleet.sweep.drift import Change, Drift
from fleet.sweep.matrix import CheckInfo, MachineRow, Matrix
from fleet.sweep.model import SEVERITIES, Status

__all__ = ["GROUP_FROM", "STATUS_CODES", "render_html"]

# Cell statuses as the page's data encodes them (index in this tuple).
STATUS_CODES: tuple[Status, ...] = (Status.PASS, Status.FAIL, Status.ERROR, Status.UNKNOWN, Status.NA)
_CODE = {status: index for index, status in enumerate(STATUS_CODES)}
# Sweep exit codes (fleet.engine.sweep) -> the verdict shown; the engine sits above this layer.
_VERDICTS = {0: "compliant", 5: "non-compliant", 6: "new drift", 7: "unable to assess",
             130: "interrupted"}
# The matrix opens with identical machines grouped from this many machines on.
GROUP_FROM = 20
_SEVERITY_RANK = {name: -i for i, name in enumerate(SEVERITIES)}  # critical first


@dataclass(frozen=True, slots=True)
class _CheckRow:
    info: CheckInfo
    rate: float | None
    counts: dict[str, int]

    @property
    def rate_text(self) -> str:
        return "-" if self.rate is None else f"{self.rate * 100:.0f}%"


@dataclass(frozen=True, slots=True)
class _DriftGroup:
    check_id: str
    before: str
    after: str
    detail: str
    machines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _DriftSection:
    title: str
    kind: str  # css class: bad, good, other
    groups: tuple[_DriftGroup, ...]
    changes: int


class _Strings:
    def __init__(self) -> None:
        self.table: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        if not value:
            return -1
        index = self._index.get(value)
        if index is None:
            index = self._index[value] = len(self.table)
            self.table.append(value)
        return index


def _rate_key(rate: float | None) -> float:
    return 2.0 if rate is None else rate


def _row_key(row: MachineRow) -> tuple[float, int, str]:
    score = row.score
    return (2.0 if score is None else score, -row.count(Status.FAIL), row.name.lower())


def _check_rows(matrix: Matrix) -> list[_CheckRow]:
    rows = []
    for index, info in enumerate(matrix.checks):
        counts = {s.value: 0 for s in Status}
        for machine in matrix.machines:
            counts[machine.cells[index].status.value] += 1
        rows.append(_CheckRow(info, matrix.pass_rate(info.id), counts))
    # Worst first: lowest pass rate, then the most severe, then the most failures.
    rows.sort(key=lambda r: (_rate_key(r.rate), _SEVERITY_RANK.get(r.info.severity, 0),
                             -r.counts[Status.FAIL.value], r.info.id))
    return rows


def _score(matrix: Matrix) -> tuple[str, int, int]:
    """(share of assessed cells that pass, compliant machines, machines)."""
    counts = matrix.counts()
    assessed = sum(counts.get(s.value, 0) for s in Status if s is not Status.NA)
    passed = counts.get(Status.PASS.value, 0)
    share = "-" if not assessed else f"{passed / assessed * 100:.0f}%"
    compliant = sum(1 for row in matrix.machines if row.score == 1.0)
    return share, compliant, len(matrix.machines)


def _grouped(changes: Iterable[Change]) -> tuple[_DriftGroup, ...]:
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for change in changes:
        key = (change.check_id, change.before.value, change.after.value, change.detail)
        groups.setdefault(key, []).append(change.machine)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return tuple(_DriftGroup(*key, machines=tuple(sorted(names, key=str.lower)))
                 for key, names in ordered)


def _drift_sections(drift: Drift) -> list[_DriftSection]:
    sections = []
    for title, kind, changes in (("Newly failing", "bad", drift.newly_failing),
                                 ("Newly passing", "good", drift.newly_passing),
                                 ("Other changes", "other", drift.other)):
        if changes:
            sections.append(_DriftSection(title, kind, _grouped(changes), len(changes)))
    return sections


def _lists(drift: Drift) -> list[tuple[str, tuple[str, ...]]]:
    return [(title, names) for title, names in (
        ("Machines appeared", drift.machines_appeared),
        ("Machines vanished", drift.machines_vanished),
        ("Checks added", drift.checks_added),
        ("Checks removed", drift.checks_removed),
    ) if names]


def _verdict(matrix: Matrix, exit_code: int | None) -> str:
    if exit_code is not None and exit_code in _VERDICTS:
        return _VERDICTS[exit_code]
    if not matrix.compliant:
        return "non-compliant"
    return "unable to assess" if matrix.unassessed_machines else "compliant"


def matrix_data(matrix: Matrix, checks: list[_CheckRow]) -> dict[str, Any]:
    """Columns in the checks table's order (worst first); rows lowest score first; each row
    ``[name, os, score, notes, cells]`` with cells flat as ``status, detail, value`` triples
    (statuses by ``STATUS_CODES`` index, texts by index into ``strings``, -1 for none)."""
    strings = _Strings()
    position = {info.id: i for i, info in enumerate(matrix.checks)}
    order = [position[row.info.id] for row in checks]
    rows = []
    for machine in sorted(matrix.machines, key=_row_key):
        cells: list[int] = []
        for index in order:
            cell = machine.cells[index]
            cells += [_CODE[cell.status], strings(cell.detail), strings(cell.value)]
        score = None if machine.score is None else round(machine.score, 4)
        rows.append([machine.name, strings(machine.os_type), score,
                     strings("; ".join(machine.notes)), cells])
    return {
        "statuses": [s.value for s in STATUS_CODES],
        "checks": [{"id": r.info.id, "title": r.info.title, "severity": r.info.severity,
                    "rate": r.rate_text} for r in checks],
        "strings": strings.table,
        "rows": rows,
    }


def render_html(matrix: Matrix, drift: Drift | None, exit_code: int | None = None) -> str:
    checks = _check_rows(matrix)
    share, compliant, machines = _score(matrix)
    counts = matrix.counts()
    verdict = _verdict(matrix, exit_code)
    return render_page(
        "fleet.sweep",
        "compliance.html.j2",
        styles=("base.css", "compliance.css"),
        scripts=("compliance.js",),
        matrix=matrix,
        verdict=verdict,
        verdict_css=verdict.replace(" ", "-"),
        score=share,
        compliant=compliant,
        machines=machines,
        failing_checks=sum(1 for r in checks if r.counts[Status.FAIL.value]),
        cells={s.value: counts.get(s.value, 0) for s in Status},
        checks=checks,
        drift=drift,
        drift_sections=_drift_sections(drift) if drift is not None else [],
        drift_lists=_lists(drift) if drift is not None else [],
        data=matrix_data(matrix, checks),
        # Grouping identical machines pays off on a fleet, not on a handful of machines.
        group_default=machines > GROUP_FROM,
    )
