"""``SimServer``: the whole simulator as one async context manager (ARM front door, fleet state,
simulated agents, optional child Azurite), on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from fleet.errors import SimulatorError
from fleet_sim.agent import Agent
from fleet_sim.agent_profile import AgentProfile
from fleet_sim.app import build_app
from fleet_sim.azurite import Azurite, start_azurite
from fleet_sim.clock import SimClock
from fleet_sim.config import SimConfig
from fleet_sim.faults import FaultInjector
from fleet_sim.fleetgen import SimMachine, apply_overrides, generate_fleet
from fleet_sim.inventory_io import read_inventory
from fleet_sim.routes import SimContext
from fleet_sim.state import AgentLike, FleetState
from fleet_sim.stats import SimStats, process_cpu_s
from fleet_sim.throttle import ThrottleBook
from fleet_sim.tls import make_server_tls

__all__ = ["DEFAULT_MACHINES", "SimServer", "is_loopback", "load_machines"]

DEFAULT_MACHINES = 20


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_machines(config: SimConfig) -> list[SimMachine]:
    """The fleet the config describes: an inventory's machines or a generated fleet, with the
    profile's overrides applied."""
    if config.inventory is not None:
        machines = read_inventory(config.inventory)
    else:
        count = DEFAULT_MACHINES if config.machines is None else config.machines
        machines = generate_fleet(
            count, seed=config.seed, subscriptions=config.subscriptions, nulls=config.profile.nulls
        )
    return apply_overrides(machines, config.profile.overrides)


class SimServer:
    """Start with ``async with SimServer(config) as sim:``; ``sim.arm_endpoint`` is its URL."""

    def __init__(self, config: SimConfig, *, agent: AgentLike | None = None) -> None:
        self.config = config
        self.arm_endpoint = ""
        self.ca_file: str | None = None
        self.storage_connection_string: str | None = None
        self._agent_override = agent
        self._agent: Agent | None = None
        self._azurite: Azurite | None = None
        self._runner: web.AppRunner | None = None
        self._tempdir: str | None = None
        self._state: FleetState | None = None
        self._stats = SimStats()

    @property
    def machines(self) -> list[SimMachine]:
        """The fleet as served now (status after any disconnect fault)."""
        return self._state.current() if self._state is not None else []

    @property
    def state(self) -> FleetState:
        if self._state is None:
            raise SimulatorError("the simulator is not running")
        return self._state

    def stats(self) -> dict[str, Any]:
        return self._stats.as_json()

    async def __aenter__(self) -> SimServer:
        config = self.config
        if not config.allow_remote and not is_loopback(config.host):
            raise SimulatorError(
                f"refusing to serve on non-loopback host {config.host!r} (use --allow-remote to insist)"
            )
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def _start(self) -> None:
        config = self.config
        machines = load_machines(config)
        if config.storage == "azurite":
            self._azurite = await asyncio.to_thread(start_azurite)
            self.storage_connection_string = self._azurite.connection_string
            azurite_pid = self._azurite.process.pid
            self._stats.azurite_cpu_s = lambda: process_cpu_s(azurite_pid)
        elif config.storage not in ("none", ""):
            self.storage_connection_string = config.storage
        clock = SimClock(config.time_scale)
        profile = config.profile
        faults = FaultInjector(profile.faults, seed=config.seed, clock=clock)
        agent: AgentLike
        if self._agent_override is not None:
            agent = self._agent_override
        else:
            agent_profile = profile.agent if profile.agent is not None else AgentProfile()
            self._agent = Agent(
                agent_profile, seed=config.seed, time_scale=config.time_scale,
                counters=self._stats,
            )
            agent = self._agent
        self._state = FleetState(
            machines,
            agent=agent,
            clock=clock,
            faults=faults,
            stats=self._stats,
            behaviour=profile.behaviour,
            rerun_identical_put=config.effective_rerun_identical_put,
        )
        ctx = SimContext(config=config, state=self._state, clock=clock)
        app = build_app(ctx, ThrottleBook(profile.throttle, clock.now), faults, self._stats)
        ssl_context = None
        if config.tls:
            ca_path = config.ca_file
            if ca_path is None:
                self._tempdir = tempfile.mkdtemp(prefix="fleet-sim-")
                ca_path = Path(self._tempdir) / "ca.pem"
            ssl_context = make_server_tls(ca_path)
            self.ca_file = str(ca_path)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, config.host, config.port, ssl_context=ssl_context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.arm_endpoint = f"{'https' if config.tls else 'http'}://{shown}:{port}"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._state is not None:
            await self._state.aclose()
        if self._agent is not None:
            await self._agent.aclose()
            self._agent = None
        if self._azurite is not None:
            await asyncio.to_thread(self._azurite.stop)
            self._azurite = None
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
