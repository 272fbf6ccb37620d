"""``fleet worker``: a production-mode worker (hosts the rollout workflow and shard activities)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, fail, run_async
from fleet.commands.options import connection_options, output_options
from fleet.commands.run import engine_options, make_connection, rehearsal_clock
from fleet.commands.temporal import leave, target_of, temporal_options
from fleet.errors import UsageError

__all__ = ["worker"]


@click.command()
@temporal_options
@connection_options
@click.option("--state-dir", type=click.Path(file_okay=False),
              help="Scratch folder for shard journals and downloads (default: a temp folder).")
@click.option("--max-shards", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Shards this worker runs at once (each is one subscription's chunk).")
@output_options
def worker(**kw: Any) -> None:
    """Run a production-mode worker: it picks rollouts and shards from the task queue and runs
    them with this host's Azure identity. Start as many as you like, anywhere; stop with
    Ctrl-C or SIGTERM (its shards are retried elsewhere, nothing is sent twice)."""
    from fleet.production.shard import ShardContext
    from fleet.production.worker import run_worker

    if not kw.get("temporal"):
        fail(UsageError("fleet worker needs --temporal ADDRESS (or FLEET_TEMPORAL)"))
    connection = make_connection(kw)
    if not (connection.storage_connection_string or connection.storage_account_url):
        fail(UsageError("a worker keeps results in the run's storage account: give "
                        "--storage-connection-string or --storage-account-url"))
    state_dir = Path(kw["state_dir"] or tempfile.mkdtemp(prefix="fleet-worker-"))
    ctx = ShardContext(connection=connection, state_dir=state_dir, options=engine_options(kw),
                       clock=rehearsal_clock())
    target = target_of(kw)

    def ready() -> None:
        echo(f"worker ready: {target.address} namespace {target.namespace} "
                   f"task queue {target.task_queue}", err=True)

    run_async(lambda: run_worker(target, ctx, max_shards=int(kw["max_shards"]), ready=ready))
    echo("worker stopped", err=True)
    leave(0)
