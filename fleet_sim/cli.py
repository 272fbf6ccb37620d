"""``fleet sim``: serve the simulator, or write the inventory of a simulated fleet."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import click

from fleet.commands.common import guarded, run_async
from fleet.commands.options import BoundedFloat
from fleet.errors import UsageError
from fleet_sim.config import Profile, SimConfig, load_profile
from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer, load_machines

__all__ = ["sim"]


@click.group("sim")
def sim() -> None:
    """The ARM + Arc agent simulator: serve it, or write its inventory."""


def _fleet_options(fn: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option(
            "--machines",
            type=click.IntRange(0, 1_000_000),
            default=None,
            help="Generate N machines (default 20).",
        ),
        click.option(
            "--seed",
            type=click.IntRange(0, 2**32 - 1),
            default=0,
            show_default=True,
            help="Seed for the fleet and every fault.",
        ),
        click.option(
            "--subscriptions",
            type=click.IntRange(1, 1000),
            default=3,
            show_default=True,
            help="Spread generated machines over this many subscriptions.",
        ),
        click.option(
            "--inventory",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Serve exactly the machines of this inventory file.",
        ),
        click.option(
            "--profile",
            "profile_file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Behaviour and faults (YAML).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _profile(path: Path | None) -> Profile:
    return load_profile(path) if path is not None else Profile()


@sim.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback only unless --allow-remote).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port; 0 picks a free one.",
)
@_fleet_options
@click.option(
    "--storage",
    default="none",
    show_default=True,
    help="azurite (start a child Azurite), none, or a storage connection string.",
)
@click.option(
    "--tls", is_flag=True, help="Serve HTTPS with a generated CA (needed by the Azure SDK)."
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --tls: where to write the CA's PEM (default: a temp file).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Items per page of list answers.",
)
@click.option(
    "--time-scale",
    type=BoundedFloat(1e-4, 1e4),
    default=1.0,
    show_default=True,
    help="Wall seconds per simulated second.",
)
@click.option(
    "--rerun-identical-put",
    is_flag=True,
    help="A PUT identical to the existing command runs it again.",
)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option(
    "--write-inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the served fleet as an inventory file.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the ready line to this file (atomically) once the simulator answers.",
)
def serve(
    host: str,
    port: int,
    machines: int | None,
    seed: int,
    subscriptions: int,
    inventory: Path | None,
    profile_file: Path | None,
    storage: str,
    tls: bool,
    ca_file: Path | None,
    page_size: int,
    time_scale: float,
    rerun_identical_put: bool,
    allow_remote: bool,
    write_inventory: Path | None,
    ready_file: Path | None,
) -> None:
    """Serve simulated ARM until SIGTERM or SIGINT. The first line on stdout is a JSON object
    with arm_endpoint (and ca_file, storage_connection_string when they exist)."""

    def build() -> SimConfig:
        if inventory is not None and machines is not None:
            raise UsageError("--inventory and --machines exclude each other")
        if ca_file is not None and not tls:
            raise UsageError("--ca-file needs --tls")
        return SimConfig(
            host=host,
            port=port,
            tls=tls,
            ca_file=ca_file,
            machines=machines,
            seed=seed,
            subscriptions=subscriptions,
            inventory=inventory,
            profile=_profile(profile_file),
            storage=storage,
            page_size=page_size,
            time_scale=time_scale,
            rerun_identical_put=rerun_identical_put,
            allow_remote=allow_remote,
        )

    config = guarded(build)
    run_async(lambda: _serve(config, write_inventory, ready_file))


def _log_to_stderr() -> None:
    """The simulator's warnings (a simulated agent's blob write that failed for good, an agent
    error) go to stderr with a time stamp: the benchmark keeps it as sim.log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("fleet_sim")
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)


async def _serve(config: SimConfig, inventory_out: Path | None, ready_file: Path | None) -> None:
    _log_to_stderr()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with SimServer(config) as server:
        if inventory_out is not None:
            write_inventory(server.machines, inventory_out)
        ready: dict[str, object] = {"arm_endpoint": server.arm_endpoint}
        if server.ca_file:
            ready["ca_file"] = server.ca_file
        if server.storage_connection_string and config.storage == "azurite":
            ready["storage_connection_string"] = server.storage_connection_string
        ready["machines"] = len(server.machines)
        ready["subscriptions"] = sorted({m.subscription_id for m in server.machines})
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        if ready_file is not None:
            partial = ready_file.with_name(ready_file.name + ".partial")
            partial.write_text(json.dumps(ready) + "\n", encoding="utf-8")
            partial.replace(ready_file)
        await stop.wait()


@sim.command("start", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the simulator's files (default: a new temporary folder).")
@click.pass_context
def start(ctx: click.Context, folder: Path | None) -> None:
    """Start `fleet sim serve` in the background (any of its options may follow) and print
    `export` lines once it answers. Use it as:

        eval "$(fleet sim start --machines 50 --tls --storage azurite)"

    The folder (FLEET_SIM_DIR) holds inventory.yaml, ca.pem, sim.log; stop with `fleet sim stop`.
    """
    from fleet_sim.daemon import export_lines, start_background

    args = list(ctx.args)
    scale_text = next((a.split("=", 1)[1] for a in args if a.startswith("--time-scale=")), None)
    if "--time-scale" in args and args.index("--time-scale") + 1 < len(args):
        scale_text = args[args.index("--time-scale") + 1]
    try:
        scale = float(scale_text) if scale_text else None
    except ValueError:
        scale = None
    where, ready = guarded(lambda: start_background(args, folder))
    sys.stdout.write(export_lines(where, ready, scale))
    click.echo(
        f"simulator ready: {ready.get('machines')} machines at {ready.get('arm_endpoint')}; "
        f"inventory {where / 'inventory.yaml'}; stop it with: fleet sim stop", err=True)


@sim.command("stop")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), envvar="FLEET_SIM_DIR",
              required=True, help="The folder `fleet sim start` printed (default: $FLEET_SIM_DIR).")
def stop(folder: Path) -> None:
    """Stop the simulator `fleet sim start` left running in FOLDER (and its Azurite)."""
    from fleet_sim.daemon import stop_background

    pid = guarded(lambda: stop_background(folder))
    click.echo("simulator stopped" if pid else f"no simulator was running in {folder}", err=True)


@sim.command("write-inventory")
@_fleet_options
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def write_inventory_command(
    machines: int | None,
    seed: int,
    subscriptions: int,
    inventory: Path | None,
    profile_file: Path | None,
    output: Path,
) -> None:
    """Write the fleet `fleet sim serve` would serve with the same options, as an inventory."""

    def run() -> None:
        config = SimConfig(
            machines=machines,
            seed=seed,
            subscriptions=subscriptions,
            inventory=inventory,
            profile=_profile(profile_file),
        )
        fleet = load_machines(config)
        write_inventory(fleet, output)
        click.echo(f"wrote {len(fleet)} machines to {output}")

    guarded(run)
