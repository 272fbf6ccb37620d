"""The compliance matrix (machines x checks) and its stable JSON form (``fleet.sweep/1``).

The JSON written by one sweep is what history keeps and what ``fleet sweep diff`` reads back,
so :func:`matrix_from_json` accepts exactly what :func:`matrix_to_json` writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.errors import InputError
from fleet.sweep.model import SEVERITIES, Check, CheckResult, Severity, Status
from fleet.types import one_of

__all__ = [
    "SCHEMA",
    "CheckInfo",
    "MachineRow",
    "Matrix",
    "check_infos",
    "matrix_from_json",
    "matrix_to_json",
]

SCHEMA = "fleet.sweep/1"
ASSESSED = (Status.PASS, Status.FAIL)


@dataclass(frozen=True, slots=True)
class CheckInfo:
    id: str
    title: str
    severity: Severity = "medium"
    rationale: str = ""


@dataclass(frozen=True, slots=True)
class MachineRow:
    """One machine's cells, in the matrix's check order. ``key`` is the lower-case ARM id."""

    key: str
    name: str
    os_type: str
    cells: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()

    def count(self, status: Status) -> int:
        return sum(1 for cell in self.cells if cell.status == status)

    @property
    def score(self) -> float | None:
        """Passing share of the applicable checks (n/a excluded); None when none applies."""
        applicable = [c for c in self.cells if c.status != Status.NA]
        if not applicable:
            return None
        return sum(1 for c in applicable if c.status == Status.PASS) / len(applicable)


@dataclass(frozen=True, slots=True)
class Matrix:
    run_id: str
    playbook: str
    started_at: str | None
    finished_at: str | None
    checks: tuple[CheckInfo, ...]
    machines: tuple[MachineRow, ...]

    def cell(self, machine_key: str, check_id: str) -> CheckResult | None:
        index = next((i for i, c in enumerate(self.checks) if c.id == check_id), None)
        row = next((m for m in self.machines if m.key == machine_key), None)
        if index is None or row is None:
            return None
        return row.cells[index]

    def counts(self) -> Counter[str]:
        return Counter(cell.status.value for row in self.machines for cell in row.cells)

    def pass_rate(self, check_id: str) -> float | None:
        """Passing share of the machines where the check was applicable (n/a excluded)."""
        index = next(i for i, c in enumerate(self.checks) if c.id == check_id)
        cells = [row.cells[index] for row in self.machines if row.cells[index].status != Status.NA]
        if not cells:
            return None
        return sum(1 for c in cells if c.status == Status.PASS) / len(cells)

    @property
    def compliant(self) -> bool:
        return self.counts().get(Status.FAIL.value, 0) == 0

    @property
    def unassessed_machines(self) -> tuple[MachineRow, ...]:
        """Machines with at least one applicable check that is neither pass nor fail."""
        return tuple(row for row in self.machines
                     if any(c.status in (Status.ERROR, Status.UNKNOWN) for c in row.cells))


def check_infos(checks: tuple[Check, ...]) -> tuple[CheckInfo, ...]:
    return tuple(CheckInfo(c.id, c.title, c.severity, c.rationale) for c in checks)


def matrix_to_json(matrix: Matrix) -> dict[str, Any]:
    counts = matrix.counts()
    return {
        "schema": SCHEMA,
        "run_id": matrix.run_id,
        "playbook": matrix.playbook,
        "started_at": matrix.started_at,
        "finished_at": matrix.finished_at,
        "summary": {
            "machines": len(matrix.machines),
            "checks": len(matrix.checks),
            "cells": {s.value: counts.get(s.value, 0) for s in Status},
            "compliant": matrix.compliant,
            "unassessed_machines": len(matrix.unassessed_machines),
        },
        "checks": [
            {"id": c.id, "title": c.title, "severity": c.severity, "rationale": c.rationale,
             "pass_rate": matrix.pass_rate(c.id)}
            for c in matrix.checks
        ],
        "machines": [
            {
                "key": row.key,
                "name": row.name,
                "os_type": row.os_type,
                "score": row.score,
                "notes": list(row.notes),
                "results": {
                    check.id: {"status": cell.status.value, "detail": cell.detail,
                               "value": cell.value}
                    for check, cell in zip(matrix.checks, row.cells, strict=True)
                },
            }
            for row in matrix.machines
        ],
    }


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InputError(f"{key} must be a string", file=where, field=key)
    return value


def _severity(value: Any) -> Severity:
    severity = one_of(SEVERITIES, value)
    if severity is None:
        raise ValueError(f"severity {str(value)[:20]!r}")
    return severity


def matrix_from_json(data: Any, *, where: str) -> Matrix:
    """Read back a matrix JSON; ``where`` names the file in errors."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"not a sweep matrix (expected schema {SCHEMA!r})", file=where)
    try:
        checks = tuple(CheckInfo(_str(c, "id", where), _str(c, "title", where),
                                 _severity(c.get("severity", "medium")),
                                 str(c.get("rationale", "")))
                       for c in data["checks"])
        rows = []
        for m in data["machines"]:
            results = m["results"]
            cells = []
            for check in checks:
                cell = results.get(check.id) or {"status": Status.NA.value}
                cells.append(CheckResult(check.id, Status(cell["status"]),
                                         str(cell.get("detail", "")), str(cell.get("value", ""))))
            rows.append(MachineRow(_str(m, "key", where), _str(m, "name", where),
                                   str(m.get("os_type", "")), tuple(cells),
                                   tuple(str(n) for n in m.get("notes", []))))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"malformed sweep matrix: {exc!r}"[:200], file=where) from exc
    return Matrix(_str(data, "run_id", where), str(data.get("playbook", "")),
                  data.get("started_at"), data.get("finished_at"), checks, tuple(rows))
