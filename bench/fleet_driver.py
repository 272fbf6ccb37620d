"""``fleet run`` for a time-scaled simulator.

At ``--time-scale 1`` the harness runs the real ``fleet run`` command instead. With a scaled
simulator (one simulated second takes ``time_scale`` wall seconds) the client's own policies,
which are in real seconds, must be scaled the same way, or the client would be the bottleneck:

* ARM bucket refill rates are divided by ``time_scale`` (burst sizes unchanged), and so is the
  write bucket's reserve: it absorbs wall-clock jitter between the client's and ARM's buckets,
  and the same jitter is 1/time_scale times as many tokens at the scaled rate;
* the AIMD cooldown (on the ARM client's own wall clock) is multiplied by ``time_scale``;
* the engine runs on a clock that counts simulated seconds (poll schedule, timeouts);
* retry backoffs and the Retry-After cap are multiplied by ``time_scale`` (the simulator's
  Retry-After header is in whole simulated seconds, almost always ``1``).

Everything else is the same code path as ``fleet run``: plan builder, engine, ARM client,
storage, journal, reports.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import ArmLimits, BucketLimits
from fleet.commands.common import loop_factory
from fleet.engine.options import EngineOptions, ScaledClock
from fleet.engine.session import Connection, execute_plan
from fleet.inventory import load_inventory
from fleet.plan.build import build_plan, new_run_id


def scaled_limits(time_scale: float) -> ArmLimits:
    base = ArmLimits()

    def scaled(limits: BucketLimits) -> BucketLimits:
        return dataclasses.replace(
            limits, per_s=limits.per_s / time_scale, reserve=limits.reserve / time_scale
        )

    return dataclasses.replace(
        base,
        reads=scaled(base.reads),
        writes=scaled(base.writes),
        deletes=scaled(base.deletes),
        concurrency=dataclasses.replace(
            base.concurrency,
            decrease_cooldown_s=base.concurrency.decrease_cooldown_s * time_scale,
        ),
    )


def scaled_retry(time_scale: float) -> RetryPolicy:
    base = RetryPolicy()
    return dataclasses.replace(
        base,
        initial_backoff_s=base.initial_backoff_s * time_scale,
        max_backoff_s=base.max_backoff_s * time_scale,
        default_retry_after_s=base.default_retry_after_s * time_scale,
        max_retry_after_s=max(time_scale, 0.001),
    )


async def main(args: argparse.Namespace) -> int:
    inventory = load_inventory(Path(args.inventory))
    plan = build_plan(
        playbook_path=Path(args.playbook),
        inventory=inventory,
        limit=None,
        extra_vars={},
        run_id=new_run_id(datetime.now(UTC)),
        seed=0,
    )
    connection = Connection(
        arm_endpoint=os.environ["FLEET_ARM_ENDPOINT"],
        credential="dev",
        ca_file=os.environ.get("FLEET_CA_FILE"),
        storage_connection_string=os.environ.get("FLEET_STORAGE_CONNECTION_STRING"),
        arm_limits=scaled_limits(args.time_scale),
        retry=scaled_retry(args.time_scale),
    )
    record = await execute_plan(
        plan,
        connection=connection,
        run_dir=Path(args.run_dir),
        options=EngineOptions(),
        clock=ScaledClock(args.time_scale),
    )
    return int(record.exit_code)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("playbook")
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--time-scale", type=float, required=True)
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    started = time.monotonic()
    with asyncio.Runner(loop_factory=loop_factory(args.event_loop)) as runner:
        code = runner.run(main(args))
    print(f"driver makespan {time.monotonic() - started:.3f}s exit {code}", flush=True)
    raise SystemExit(code)


if __name__ == "__main__":
    cli()
