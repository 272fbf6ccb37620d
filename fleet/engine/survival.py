"""How long the fleet's run commands take, estimated while they run (Kaplan-Meier).

The poll schedule aims each GET where a job is likely to have finished. Durations seen so far
are a biased sample early on (the short jobs finish first), so jobs still running count too,
as *censored* observations: "alive at age a" (the age of the last poll that saw them running).
A finished job's duration is taken as the middle of (last seen running, seen finished].
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

__all__ = ["SurvivalEstimate"]


class SurvivalEstimate:
    """A step function S(t) = P(duration > t), built once from observations and then queried
    in O(log n)."""

    __slots__ = ("_ages", "_events", "_survival", "_times", "completions")

    def __init__(self, finished: Iterable[float], alive_at: Iterable[float]) -> None:
        observations = sorted(
            [(float(d), 1) for d in finished] + [(float(a), 0) for a in alive_at]
        )
        self._ages = [t for t, _ in observations]  # every observation, for at_risk()
        self._times: list[float] = []  # distinct event times
        self._survival: list[float] = []  # S just after each event time
        at_risk = len(observations)
        survival = 1.0
        i = 0
        completions = 0
        while i < len(observations):
            t = observations[i][0]
            deaths = 0
            leaving = 0
            while i < len(observations) and observations[i][0] == t:
                deaths += observations[i][1]
                leaving += 1
                i += 1
            if deaths:
                survival *= 1.0 - deaths / at_risk
                completions += deaths
                self._times.append(t)
                self._survival.append(survival)
            at_risk -= leaving
        self.completions = completions
        self._events = len(self._times)

    def at_risk(self, age: float) -> int:
        """How many observations reach beyond ``age``: how much the estimate knows there."""
        return len(self._ages) - bisect.bisect_right(self._ages, age)

    def survival(self, age: float) -> float:
        """P(duration > age)."""
        k = bisect.bisect_right(self._times, age)
        return 1.0 if k == 0 else self._survival[k - 1]

    def age_at_survival(self, target: float) -> float | None:
        """The first event time at which S falls to ``target`` or below; None if the data
        does not reach that far."""
        k = self._first_at_or_below(target)
        return self._times[k] if k < self._events else None

    def _first_at_or_below(self, target: float) -> int:
        # _survival is non-increasing: find the first index with value <= target.
        lo, hi = 0, self._events
        while lo < hi:
            mid = (lo + hi) // 2
            if self._survival[mid] <= target:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def last_event_age(self) -> float | None:
        """The age of the last completion seen: beyond it the estimate knows nothing."""
        return self._times[-1] if self._events else None

    def age_at_survival_between(self, target: float) -> float | None:
        """Like ``age_at_survival`` but between event times: S taken as linear from one
        event time to the next (from 1 at age 0), so the answer is not always an event time."""
        k = self._first_at_or_below(target)
        if k >= self._events:
            return None
        before_t = self._times[k - 1] if k else 0.0
        before_s = self._survival[k - 1] if k else 1.0
        drop = before_s - self._survival[k]
        if drop <= 0:
            return self._times[k]
        return before_t + (self._times[k] - before_t) * (before_s - target) / drop

    def median(self) -> float | None:
        return self.age_at_survival(0.5)
