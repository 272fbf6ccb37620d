"""Resource Graph (or a cached listing) can be minutes behind ARM. Preflight re-reads every
machine from ARM before dispatch; this compares what the inventory source said with what
preflight saw, so the report can list the machines whose status disagreed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fleet.types import MachineOrigin, MachineRef

__all__ = ["StatusDisagreement", "status_disagreements"]


@dataclass(frozen=True, slots=True)
class StatusDisagreement:
    machine: MachineRef
    source: str
    snapshot_at: str
    source_status: str | None
    arm_status: str | None

    def note(self) -> str:
        """One line for ``RunRecord.notes`` and the report."""
        return (f"{self.machine.name}: status {self.source_status or 'unknown'} per {self.source} "
                f"(listed {self.snapshot_at}), {self.arm_status or 'unknown'} per ARM at preflight")


def status_disagreements(origins: Iterable[MachineOrigin],
                         arm_status: Mapping[str, str | None]) -> list[StatusDisagreement]:
    """``arm_status`` maps ``MachineRef.key`` to the status preflight read (machines preflight
    did not read are skipped). Statuses compare case-insensitively."""
    out: list[StatusDisagreement] = []
    for origin in origins:
        if origin.machine.key not in arm_status:
            continue
        seen = arm_status[origin.machine.key]
        if (origin.status or "").lower() != (seen or "").lower():
            out.append(StatusDisagreement(origin.machine, origin.source, origin.snapshot_at,
                                          origin.status, seen))
    return out
