"""Counters the simulator keeps and serves at ``GET /_sim/stats``."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["SimStats"]


class SimStats:
    def __init__(self) -> None:
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

    def request(self, method: str, operation: str) -> None:
        self.requests_by_method[method] += 1
        self.requests_by_operation[operation] += 1

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
        }
