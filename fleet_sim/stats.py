"""Counters the simulator keeps and serves at ``GET /_sim/stats``.

Besides ARM's requests it counts the simulated agents' storage traffic (blob creates, appends,
retries, writes that finally failed, by stream) so a benchmark row can attribute an output
missing from its blob to the test bed, and the test bed's own CPU seconds (the simulator's
process and its Azurite child, apart), so a row can show what the test bed cost beside what the
client cost."""

from __future__ import annotations

import os
import resource
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["STORAGE_EVENTS", "SimStats", "process_cpu_s"]

# What the agents' blob writers count (see fleet_sim.blobwriter).
STORAGE_EVENTS = (
    "creates",  # create (or overwrite) an append blob: one PUT
    "appends",  # appended blocks: one PUT ?comp=appendblock each
    "retries",  # a write sent again after no answer or a transient status
    "landed_on_retry",  # a retried append answered 412: its first attempt had landed
    "failed",  # writes that failed for good (after retries): the blob misses that data
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (and its waited-for children), from
    ``/proc/<pid>/stat``; ``None`` when it cannot be read (gone, not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / _CLOCK_TICKS


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class SimStats:
    def __init__(self) -> None:
        # The storage emulator's CPU seconds when the simulator started one (set by SimServer).
        self.azurite_cpu_s: Callable[[], float | None] = lambda: None
        self.reset()

    def reset(self) -> None:
        self.requests_by_method: Counter[str] = Counter()
        self.requests_by_operation: Counter[str] = Counter()
        self.responses_by_status: Counter[str] = Counter()
        self.throttled = 0
        self.faults: Counter[str] = Counter()
        self.executions: Counter[str] = Counter()  # machine resource id -> executions started
        self.cancels = 0
        self.timeouts = 0
        self.stuck = 0
        self.unreachable = 0
        self.storage: Counter[str] = Counter({event: 0 for event in STORAGE_EVENTS})
        self.storage_failed_by_stream: Counter[str] = Counter()
        self._cpu_at_reset = self._cpu()

    def request(self, method: str, operation: str) -> None:
        self.requests_by_method[method] += 1
        self.requests_by_operation[operation] += 1

    def storage_event(self, event: str, *, count: int = 1) -> None:
        self.storage[event] += count

    def storage_failure(self, stream: str) -> None:
        """A blob write of ``stream`` (output or error) failed for good."""
        self.storage["failed"] += 1
        self.storage_failed_by_stream[stream] += 1

    def _cpu(self) -> dict[str, float | None]:
        return {"simulator": _own_cpu_s(), "azurite": self.azurite_cpu_s()}

    def cpu_json(self) -> dict[str, Any]:
        now = self._cpu()
        since: dict[str, float | None] = {}
        for part, value in now.items():
            before = self._cpu_at_reset.get(part)
            since[part] = None if value is None or before is None else round(value - before, 3)
        return {
            "simulator": round(now["simulator"] or 0.0, 3),
            "azurite": None if now["azurite"] is None else round(now["azurite"], 3),
            "since_reset": since,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": sum(self.requests_by_method.values()),
            "requests_by_method": dict(self.requests_by_method),
            "requests_by_operation": dict(self.requests_by_operation),
            "responses_by_status": dict(self.responses_by_status),
            "throttled": self.throttled,
            "faults": dict(self.faults),
            "executions": dict(self.executions),
            "executions_total": sum(self.executions.values()),
            "cancels": self.cancels,
            "timeouts": self.timeouts,
            "stuck": self.stuck,
            "unreachable": self.unreachable,
            "storage": {
                **self.storage,
                "failed_by_stream": dict(self.storage_failed_by_stream),
            },
            "cpu_s": self.cpu_json(),
        }
