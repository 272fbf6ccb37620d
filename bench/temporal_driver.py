"""Production mode (Temporal) for the benchmark: ``worker`` runs one fleet worker and
``submit`` submits the run, waits for it and fetches its reports into ``--run-dir``.

At ``--time-scale 1`` (real ARM rates) these are ``fleet worker`` and ``fleet run --temporal``
with nothing changed. With a scaled simulator the worker scales its ARM buckets, retries and
clock exactly as ``bench.fleet_driver`` does for the embedded mode, so the two modes are
compared on the same terms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.fleet_driver import scaled_limits, scaled_retry
from fleet.engine.options import EngineOptions, ScaledClock
from fleet.engine.session import Connection
from fleet.inventory import load_inventory
from fleet.plan.build import build_plan, new_run_id
from fleet.production.client import Storage, fetch_reports, submit, wait_result
from fleet.production.connect import TemporalTarget
from fleet.production.shard import ShardContext
from fleet.production.worker import run_worker


def _connection(time_scale: float) -> Connection:
    scaled = time_scale != 1.0
    return Connection(
        arm_endpoint=os.environ["FLEET_ARM_ENDPOINT"], credential="dev",
        ca_file=os.environ.get("FLEET_CA_FILE"),
        storage_connection_string=os.environ.get("FLEET_STORAGE_CONNECTION_STRING"),
        arm_limits=scaled_limits(time_scale) if scaled else None,
        retry=scaled_retry(time_scale) if scaled else None,
    )


async def worker(args: argparse.Namespace) -> int:
    ctx = ShardContext(connection=_connection(args.time_scale),
                       state_dir=Path(tempfile.mkdtemp(prefix="bench-worker-")),
                       options=EngineOptions(),
                       clock=ScaledClock(args.time_scale) if args.time_scale != 1.0 else None)

    def ready() -> None:
        print("worker ready", flush=True)

    await run_worker(TemporalTarget(args.temporal), ctx, max_shards=args.max_shards, ready=ready)
    return 0


async def run(args: argparse.Namespace) -> int:
    plan = build_plan(playbook_path=Path(args.playbook), inventory=load_inventory(Path(args.inventory)),
                      limit=None, extra_vars={}, run_id=new_run_id(datetime.now(UTC)), seed=0)
    target = TemporalTarget(args.temporal)
    storage = Storage(os.environ["FLEET_STORAGE_CONNECTION_STRING"], None)
    assert await submit(plan, target, storage)
    summary = await wait_result(target, plan.run_id)
    await fetch_reports(plan.run_id, storage, Path(args.run_dir), outputs=False)
    return int(summary.exit_code)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--temporal", required=True)
    w.add_argument("--time-scale", type=float, required=True)
    w.add_argument("--max-shards", type=int, default=8)
    r = sub.add_parser("submit")
    r.add_argument("playbook")
    r.add_argument("-i", "--inventory", required=True)
    r.add_argument("--run-dir", required=True)
    r.add_argument("--temporal", required=True)
    r.add_argument("--time-scale", type=float, required=True)
    args = parser.parse_args()
    started = time.monotonic()
    code = asyncio.run(worker(args) if args.what == "worker" else run(args))
    print(f"driver {args.what} {time.monotonic() - started:.3f}s exit {code}", flush=True)
    os._exit(code)  # the Temporal SDK's native threads must not meet interpreter finalization


if __name__ == "__main__":
    cli()
