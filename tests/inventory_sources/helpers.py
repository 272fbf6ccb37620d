"""Shared bits for the inventory-source tests: a connection to the simulator, a clock whose
sleeps follow the simulator's time scale (so a Retry-After of 5 simulated seconds costs 50 ms
at scale 0.01, and the simulator really has moved on when it returns), and a movable UTC now."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import ArmLimits, BucketLimits
from fleet.engine.session import Connection
from fleet_sim.server import SimServer

FAST_RETRY = RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.01, deadline_s=60,
                         request_timeout_s=10)
ROOMY = ArmLimits(reads=BucketLimits(burst=100_000, per_s=100_000),
                  writes=BucketLimits(burst=100_000, per_s=100_000),
                  deletes=BucketLimits(burst=100_000, per_s=100_000))


def connection(sim: SimServer, **kw: Any) -> Connection:
    return Connection(arm_endpoint=sim.arm_endpoint, credential="dev", ca_file=sim.ca_file,
                      arm_limits=kw.get("arm_limits", ROOMY), retry=kw.get("retry", FAST_RETRY))


class SimScaledClock:
    """Monotonic seconds in the simulator's units; ``sleep`` waits the scaled wall time."""

    def __init__(self, time_scale: float) -> None:
        self.scale = time_scale
        self.slept_s = 0.0

    def now(self) -> float:
        return time.monotonic() / self.scale

    async def sleep(self, seconds: float) -> None:
        self.slept_s += max(0.0, seconds)
        await asyncio.sleep(max(0.0, seconds) * self.scale)


class MovableNow:
    """The cache's wall clock: tests move it forward; nothing waits."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def write_inventory(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def subscriptions(sim: SimServer) -> list[str]:
    return sorted({m.subscription_id for m in sim.machines})


def list_requests(sim: SimServer) -> int:
    ops = sim.stats()["requests_by_operation"]
    return int(ops.get("Machines_ListBySubscription", 0) + ops.get("Machines_ListByResourceGroup", 0))


def graph_requests(sim: SimServer) -> int:
    return int(sim.stats()["requests_by_operation"].get("Resources_Query", 0))
