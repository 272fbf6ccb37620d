"""Time, injectable: every wait and deadline in fleet goes through a ``Clock`` so tests run on a
virtual one and never sleep, and rehearsals against a time-scaled simulator count simulated
seconds (``ScaledClock``)."""

from __future__ import annotations

import asyncio
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


class ScaledClock:
    """Counts simulated seconds for a simulator run at ``time_scale`` wall seconds per
    simulated second, so every policy in seconds (polls, timeouts) scales with it."""

    def __init__(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale

    def now(self) -> float:
        return time.monotonic() / self.time_scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) * self.time_scale)
