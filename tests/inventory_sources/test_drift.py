"""Resource Graph lags ARM: the simulator can serve stale statuses through ARG, preflight reads
ARM's, and ``status_disagreements`` names the machines where the two disagreed."""

from __future__ import annotations

from fleet.arm.client import ArmClient
from fleet.arm.credentials import DevTokenProvider
from fleet.arm.transport import AiohttpTransport
from fleet.engine.preflight import preflight
from fleet.inventory import load_inventory_with_sources
from fleet.inventory.sources.drift import status_disagreements
from fleet.inventory.sources.model import SourceSpec
from fleet.types import MachineOrigin
from fleet_sim.config import DisconnectSpec, Faults, Profile
from fleet_sim.server import load_machines
from tests.fixtures.sim import FAST, SimFactory
from tests.inventory_sources.helpers import FAST_RETRY, ROOMY, connection

QUERY = ("resources | where type =~ 'microsoft.hybridcompute/machines' | extend status = "
         "tostring(properties.status) | where status == 'Connected'")


async def test_stale_graph_status_is_caught_by_preflight_and_named(sim_factory: SimFactory) -> None:
    profile = Profile(faults=Faults(disconnect=DisconnectSpec(fraction=0.5, after_s=0.0)),
                      behaviour=FAST.profile.behaviour)
    # ARG's view is an hour (simulated) behind: it still sees the machines as Connected.
    sim = await sim_factory(machines=16, profile=profile, graph_lag_s=3600.0)
    initially = {m.key for m in load_machines(sim.config) if m.status == "Connected"}
    dropped = {m.key for m in sim.machines if m.status == "Disconnected"} & initially
    assert dropped  # the fault disconnected some machines, in ARM's view
    inventory = await load_inventory_with_sources(
        None, connection=connection(sim), use_cache=False,
        extra_sources=[SourceSpec("resource-graph", (), query=QUERY)])
    listed = {h.machine.key for h in inventory.hosts}
    assert dropped <= listed  # ARG listed them as Connected
    async with ArmClient(endpoint=sim.arm_endpoint, transport=AiohttpTransport(),
                         credential=DevTokenProvider(), limits=ROOMY, retry=FAST_RETRY) as arm:
        seen = await preflight(arm, [h.machine for h in inventory.hosts], min_agent=(1, 33),
                               list_threshold=3)
    origins = [MachineOrigin(h.machine, h.origin.source, h.origin.snapshot_at, h.origin.status)
               for h in inventory.hosts if h.origin is not None]
    drift = status_disagreements(origins, {k: r.status for k, r in seen.items()})
    assert {d.machine.key for d in drift} == dropped
    note = drift[0].note()
    assert "Connected per resource-graph:" in note and "Disconnected per ARM at preflight" in note
    assert all(not seen[k].reachable for k in dropped)  # and they are never dispatched
