"""Output groups: machines whose output is identical, shown once with a count.

With 500 machines the operator reads three groups, not 500 outputs. Identity is the sha256 of
the kept bytes per step and stream, with each machine's own name (printed by so many scripts)
replaced by ``<machine>`` when the engine computed that digest (``group_sha256``); a capture
without a hash (nothing read) is not grouped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from fleet.report.facts import SEVERITY
from fleet.types import JobResult, JobState, MachineRef, StreamCapture

__all__ = ["OutputGroup", "output_groups"]

_RANK = {state: i for i, state in enumerate(SEVERITY)}


@dataclass(frozen=True, slots=True)
class OutputGroup:
    id: str  # "g1", "g2", ... in display order
    step: str
    stream: str  # "output" | "error"
    sha256: str
    count: int
    size_bytes: int
    truncated: bool
    excerpt: str
    # The members themselves (the run's own MachineRefs), not a resource id string made per
    # member: a group is held while a report is written, and may have 10,000 members.
    machines: tuple[MachineRef, ...]
    states: tuple[tuple[str, int], ...]  # (state, count), worst first
    exit_codes: tuple[int | None, ...]  # distinct, in first-seen order

    @property
    def machine_ids(self) -> tuple[str, ...]:
        return tuple(m.resource_id for m in self.machines)

    @property
    def machine_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.machines)

    @property
    def has_failure(self) -> bool:
        return any(JobState(s).is_failure for s, _ in self.states)


def _capture(result: JobResult, stream: str) -> StreamCapture:
    return result.output if stream == "output" else result.error


def output_groups(results: Iterable[JobResult]) -> list[OutputGroup]:
    """Group by (step, stream, sha256). Every captured stdout is grouped (an empty one too,
    as the "no output" group); stderr only when it is non-empty. Groups holding a failure come
    first, then the largest."""
    buckets: dict[tuple[str, str, str], list[JobResult]] = {}
    for result in results:
        for stream in ("output", "error"):
            capture = _capture(result, stream)
            if capture.sha256 is None or (stream == "error" and capture.size_bytes == 0):
                continue
            key = capture.group_sha256 or capture.sha256
            buckets.setdefault((result.step, stream, key), []).append(result)
    unordered: list[OutputGroup] = []
    for (step, stream, sha), members in buckets.items():
        first = _capture(members[0], stream)
        states: dict[str, int] = {}
        for state in sorted((m.state for m in members), key=lambda s: _RANK[s]):
            states[state.value] = states.get(state.value, 0) + 1
        codes: list[int | None] = []
        for member in members:
            if member.exit_code not in codes:
                codes.append(member.exit_code)
        unordered.append(
            OutputGroup(
                id="",
                step=step,
                stream=stream,
                sha256=sha,
                count=len(members),
                size_bytes=first.size_bytes,
                truncated=any(_capture(m, stream).truncated for m in members),
                excerpt=_generic(first.excerpt, members[0].machine.name)
                if first.group_sha256
                else first.excerpt,
                machines=tuple(m.machine for m in members),
                states=tuple(states.items()),
                exit_codes=tuple(codes),
            )
        )
    unordered.sort(
        key=lambda g: (not g.has_failure, g.stream != "output", -g.count, g.step, g.sha256)
    )
    return [replace(g, id=f"g{i}") for i, g in enumerate(unordered, start=1)]


def _generic(excerpt: str, machine_name: str) -> str:
    """The first member's excerpt, its machine's name shown as ``<machine>``."""
    return re.sub(re.escape(machine_name), "<machine>", excerpt, flags=re.IGNORECASE)
