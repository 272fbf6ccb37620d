"""Time, injectable: every wait and deadline in fleet goes through a ``Clock`` so tests run on a
virtual one and never sleep, and rehearsals against a time-scaled simulator count simulated
seconds (``ScaledClock``)."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

__all__ = ["Clock", "MonotonicClock", "ScaledClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


# Wall seconds per simulated second: 1e-4 runs a day in under 9 s, 1e4 is slow motion.
MIN_TIME_SCALE = 1e-4
MAX_TIME_SCALE = 1e4


def check_time_scale(value: float) -> float:
    """``value`` if it is a usable time scale; ValueError otherwise (inf and nan included:
    with them a run never ends and no timer fires)."""
    if not math.isfinite(value) or not MIN_TIME_SCALE <= value <= MAX_TIME_SCALE:
        raise ValueError(f"time scale must be a number from {MIN_TIME_SCALE:g} to "
                         f"{MAX_TIME_SCALE:g}")
    return value


def parse_time_scale(text: str) -> float:
    """``FLEET_TIME_SCALE``'s text as a checked time scale (ValueError if it is not one)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text[:20]!r}") from None
    return check_time_scale(value)


class ScaledClock:
    """Counts simulated seconds for a simulator run at ``time_scale`` wall seconds per
    simulated second, so every policy in seconds (polls, timeouts) scales with it."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = check_time_scale(time_scale)

    def now(self) -> float:
        return time.monotonic() / self.time_scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) * self.time_scale)
