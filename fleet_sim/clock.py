"""Simulated time. Bucket refills, Retry-After values, latencies and disconnect times are in
simulated seconds; ``time_scale`` says how many wall seconds one simulated second takes, so tests
and benchmarks run fast. The wall clock and the sleep are injectable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fleet.errors import SimulatorError

__all__ = ["SimClock"]


class SimClock:
    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if time_scale <= 0:
            raise SimulatorError("time_scale must be > 0")
        self.time_scale = time_scale
        self._monotonic = monotonic
        self._sleep = sleep
        self._start = monotonic()

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        return (self._monotonic() - self._start) / self.time_scale

    async def sleep(self, simulated_s: float) -> None:
        if simulated_s > 0:
            await self._sleep(simulated_s * self.time_scale)
