"""``fleet worker``: host the rollout workflow and the shard activities until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from datetime import timedelta

from fleet.production.activities import FleetActivities
from fleet.production.connect import TemporalTarget, connect
from fleet.production.shard import ShardContext
from fleet.production.sweep_workflow import SweepWorkflow
from fleet.production.workflow import RolloutWorkflow

__all__ = ["run_worker"]


async def run_worker(target: TemporalTarget, ctx: ShardContext, *, max_shards: int = 8,
                     ready: Callable[[], None] | None = None,
                     stop: asyncio.Event | None = None) -> None:
    """Poll ``target``'s task queue until SIGINT/SIGTERM (or ``stop`` is set, in-process)."""
    from temporalio.worker import Worker

    client = await connect(target)
    acts = FleetActivities(ctx)
    worker = Worker(
        client, task_queue=target.task_queue, workflows=[RolloutWorkflow, SweepWorkflow],
        activities=[acts.run_shard, acts.cancel_shard, acts.finalize_run, acts.run_sweep_firing],
        max_concurrent_activities=max_shards,
        graceful_shutdown_timeout=timedelta(seconds=5),
        # A shard's heartbeat carries what it has in flight (``fleet.production.inflight``):
        # the server gets it every 2 s, not every 80% of the heartbeat timeout, so a follower
        # sees machines sent and running as they are.
        max_heartbeat_throttle_interval=timedelta(seconds=2),
    )
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    async with worker:
        if ready is not None:
            ready()
        await stop.wait()
