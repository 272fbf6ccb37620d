"""Drift: what changed between two sweeps (any two matrices, usually the previous and this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet.sweep.matrix import Matrix
from fleet.sweep.model import Status

__all__ = ["Change", "Drift", "diff_matrices", "drift_to_json"]


@dataclass(frozen=True, slots=True)
class Change:
    machine: str  # display name
    machine_key: str
    check_id: str
    before: Status
    after: Status
    detail: str = ""  # the new cell's detail


@dataclass(frozen=True, slots=True)
class Drift:
    """``newly_failing``: pass -> fail on a machine and check present in both sweeps;
    ``newly_passing``: fail -> pass; ``other``: any other status change (e.g. pass -> error)."""

    before_run: str
    after_run: str
    newly_failing: tuple[Change, ...] = ()
    newly_passing: tuple[Change, ...] = ()
    other: tuple[Change, ...] = ()
    machines_appeared: tuple[str, ...] = ()
    machines_vanished: tuple[str, ...] = ()
    checks_added: tuple[str, ...] = ()
    checks_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.newly_failing or self.newly_passing or self.other
                    or self.machines_appeared or self.machines_vanished or self.checks_added
                    or self.checks_removed)

    def summary(self) -> str:
        parts = [f"{len(self.newly_failing)} newly failing", f"{len(self.newly_passing)} newly "
                 "passing"]
        for label, items in (("other changes", self.other),
                             ("machines appeared", self.machines_appeared),
                             ("machines vanished", self.machines_vanished),
                             ("checks added", self.checks_added),
                             ("checks removed", self.checks_removed)):
            if items:
                parts.append(f"{len(items)} {label}")
        return f"drift since {self.before_run}: " + ", ".join(parts)


def diff_matrices(before: Matrix, after: Matrix) -> Drift:
    before_rows = {row.key: row for row in before.machines}
    after_rows = {row.key: row for row in after.machines}
    before_checks = [c.id for c in before.checks]
    after_checks = [c.id for c in after.checks]
    common_checks = [c for c in after_checks if c in set(before_checks)]
    failing: list[Change] = []
    passing: list[Change] = []
    other: list[Change] = []
    for row in after.machines:
        old = before_rows.get(row.key)
        if old is None:
            continue
        for check_id in common_checks:
            was = before.cell(old.key, check_id)
            now = after.cell(row.key, check_id)
            if was is None or now is None or was.status == now.status:
                continue
            change = Change(row.name, row.key, check_id, was.status, now.status, now.detail)
            if was.status == Status.PASS and now.status == Status.FAIL:
                failing.append(change)
            elif was.status == Status.FAIL and now.status == Status.PASS:
                passing.append(change)
            else:
                other.append(change)
    return Drift(
        before_run=before.run_id,
        after_run=after.run_id,
        newly_failing=tuple(failing),
        newly_passing=tuple(passing),
        other=tuple(other),
        machines_appeared=tuple(sorted(after_rows[k].name for k in after_rows.keys()
                                       - before_rows.keys())),
        machines_vanished=tuple(sorted(before_rows[k].name for k in before_rows.keys()
                                       - after_rows.keys())),
        checks_added=tuple(c for c in after_checks if c not in set(before_checks)),
        checks_removed=tuple(c for c in before_checks if c not in set(after_checks)),
    )


def _changes(changes: tuple[Change, ...]) -> list[dict[str, str]]:
    return [{"machine": c.machine, "key": c.machine_key, "check": c.check_id,
             "before": c.before.value, "after": c.after.value, "detail": c.detail}
            for c in changes]


def drift_to_json(drift: Drift) -> dict[str, Any]:
    return {
        "before_run": drift.before_run,
        "after_run": drift.after_run,
        "newly_failing": _changes(drift.newly_failing),
        "newly_passing": _changes(drift.newly_passing),
        "other": _changes(drift.other),
        "machines_appeared": list(drift.machines_appeared),
        "machines_vanished": list(drift.machines_vanished),
        "checks_added": list(drift.checks_added),
        "checks_removed": list(drift.checks_removed),
    }
