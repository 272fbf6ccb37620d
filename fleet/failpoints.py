"""Failpoints: kill the runner with a real SIGKILL at a named point, for crash-safety tests.

``FLEET_FAILPOINT=after_put:12`` kills the process at the 12th time the engine passes the
``after_put`` point. Several may be given, comma-separated. Unset (the normal case), every
``hit`` is a dictionary lookup and nothing else. Points, in a job's order:

    before_put      the journal says DISPATCHED, the PUT has not been sent
    after_put       ARM accepted the PUT, the journal does not know yet
    poll            a poll answer arrived
    after_collect   outputs are in the run folder, the journal does not know yet
    after_terminal  the journal has the result, the run command is not deleted yet
    between_waves   a wave ended, the next has not started
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Mapping

__all__ = ["POINTS", "Failpoints"]

POINTS = ("before_put", "after_put", "poll", "after_collect", "after_terminal", "between_waves")


class Failpoints:
    def __init__(self, targets: Mapping[str, int]) -> None:
        unknown = set(targets) - set(POINTS)
        if unknown:
            raise ValueError(f"unknown failpoint(s): {', '.join(sorted(unknown))}")
        self._targets = dict(targets)
        self._hits: Counter[str] = Counter()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Failpoints:
        text = (environ if environ is not None else os.environ).get("FLEET_FAILPOINT", "")
        targets: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, count = item.partition(":")
            targets[name] = int(count or "1")
        return cls(targets)

    def hit(self, name: str) -> None:
        if not self._targets:
            return
        self._hits[name] += 1
        if self._targets.get(name) == self._hits[name]:
            os.kill(os.getpid(), signal.SIGKILL)
