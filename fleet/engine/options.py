"""Engine policies as values: polling, timeouts, output limits. Tests pass fast ones."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Clock", "EngineOptions", "MonotonicClock", "PollPolicy"]


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How the shared poll schedule spaces GETs.

    The first poll of a job comes after ``first_poll_s`` (or a fraction of the fleet's observed
    median run time, once some jobs have finished); later polls back off by ``backoff`` up to
    ``max_interval_s``. Whatever the per-job wish, the schedule never plans more than
    ``read_budget_per_s`` GETs per second overall, so a large fleet does not spend its reads
    on machines that cannot be done yet.
    """

    first_poll_s: float = 3.0
    min_interval_s: float = 1.0
    max_interval_s: float = 30.0
    backoff: float = 1.5
    median_fraction: float = 0.9  # first poll at this fraction of the observed median run time
    read_budget_per_s: float = 20.0  # ARM refills 25 reads/s per principal; keep headroom


@dataclass(frozen=True, slots=True)
class EngineOptions:
    max_output_bytes: int = 16 * 1024 * 1024
    keep_run_commands: bool = False
    timeout_margin_s: float = 120.0  # a job with no end by timeout + margin is stopped
    sas_margin_s: float = 900.0  # SAS links expire this long after the job's timeout
    min_agent_version: tuple[int, int] = (1, 33)
    preflight: bool = True
    preflight_list_threshold: int = 5  # list a resource group instead of GETs from this many machines
    poll: PollPolicy = PollPolicy()
