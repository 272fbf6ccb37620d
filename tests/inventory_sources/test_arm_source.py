"""ARM listing as an inventory source, against the simulator: paging, throttling, groups from
tags, merging with a static file, the cache and its TTL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fleet.arm.throttle import ArmLimits
from fleet.errors import InventoryError, NotFoundError
from fleet.inventory import load_inventory, load_inventory_with_sources
from fleet.inventory.sources.model import SourceSpec
from fleet_sim.config import BucketSpec, Profile, ThrottleSpec
from tests.fixtures.sim import FAST, SimFactory
from tests.inventory_sources.helpers import (
    MovableNow,
    SimScaledClock,
    connection,
    list_requests,
    subscriptions,
    write_inventory,
)

MACHINE_TYPE = "microsoft.hybridcompute/machines"


async def test_arm_source_pages_every_subscription_and_builds_tag_os_location_groups(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=23, page_size=4)
    subs = subscriptions(sim)
    inv = write_inventory(tmp_path / "inv.yaml", {"sources": {"arm": [{"subscriptions": subs}]}})
    loaded = await load_inventory_with_sources(inv, connection=connection(sim),
                                               cache_dir=tmp_path / "cache")
    assert {h.machine.key for h in loaded.hosts} == {m.key for m in sim.machines}
    per_sub = [sum(1 for m in sim.machines if m.subscription_id == s) for s in subs]
    assert list_requests(sim) == sum(math.ceil(n / 4) for n in per_sub)  # every page, once
    web_prod = {h.name for h in loaded.select("role_web:&env_prod")}
    expected = {m.name for m in sim.machines if m.tags["role"] == "web" and m.tags["env"] == "prod"}
    assert web_prod == expected and expected
    assert {h.name for h in loaded.select("os_windows")} == {
        m.name for m in sim.machines if m.os_type == "windows"}
    some = sim.machines[0]
    host = loaded.host(some.name)
    assert host is not None and f"location_{some.location}" in host.groups
    assert host.vars["arc_status"] == some.status and host.vars["arc_agent_version"]
    assert host.origin is not None and host.origin.source == f"arm:{','.join(subs)}"
    assert host.origin.snapshot_at.endswith("Z") and not host.origin.from_cache


async def test_arm_source_by_resource_group(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=15)
    target = sim.machines[3]
    spec = SourceSpec("arm", (target.subscription_id,), (target.resource_group,))
    loaded = await load_inventory_with_sources(None, connection=connection(sim),
                                               extra_sources=[spec], use_cache=False)
    expected = {m.name for m in sim.machines if m.subscription_id == target.subscription_id
                and m.resource_group == target.resource_group}
    assert {h.name for h in loaded.hosts} == expected


async def test_throttled_listing_waits_out_429s_and_still_lists_everything(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    # The simulator's read bucket (one per subscription) holds 2 tokens and refills one per 50
    # simulated seconds (0.5 s of wall time): a subscription's 3-4 pages cannot all fit,
    # however slow the machine (a refill every 2 ms, as before, let a busy machine's slow
    # requests dodge every 429). fleet's own buckets are left roomy so that the simulator
    # really answers 429.
    profile = Profile(throttle=ThrottleSpec(reads=BucketSpec(2, 0.02)),
                      behaviour=FAST.profile.behaviour)
    sim = await sim_factory(machines=20, page_size=2, profile=profile)
    clock = SimScaledClock(sim.config.time_scale)
    loaded = await load_inventory_with_sources(
        None, connection=connection(sim), clock=clock, use_cache=False,
        extra_sources=[SourceSpec("arm", tuple(subscriptions(sim)))])
    assert len(loaded.hosts) == 20
    assert sim.stats()["throttled"] > 0 and clock.slept_s > 0  # it was throttled and waited


async def test_fleet_buckets_keep_listing_under_the_read_budget(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    from fleet.arm.throttle import BucketLimits

    sim = await sim_factory(machines=20, page_size=2,
                            profile=Profile(throttle=ThrottleSpec(reads=BucketSpec(3, 10)),
                                            behaviour=FAST.profile.behaviour))
    clock = SimScaledClock(sim.config.time_scale)
    limits = ArmLimits(reads=BucketLimits(burst=3, per_s=10))
    loaded = await load_inventory_with_sources(
        None, connection=connection(sim, arm_limits=limits), clock=clock, use_cache=False,
        extra_sources=[SourceSpec("arm", tuple(subscriptions(sim)))])
    assert len(loaded.hosts) == 20 and sim.stats()["throttled"] == 0


async def test_static_file_layers_on_top_of_azure(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=12)
    by_name = {m.name: m for m in sim.machines}
    named, by_id, other = sorted(by_name)[:3]
    m_id = by_name[by_id]
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / f"role_{by_name[named].tags['role']}.yaml").write_text(
        "from_group_vars: yes\nhttp_port: 80\n")
    inv = write_inventory(tmp_path / "inv.yaml", {
        "sources": {"arm": [{"subscriptions": subscriptions(sim)}], "cache_ttl": 0},
        "all": {
            "vars": {"location": "nowhere", "owner": "ops"},  # Azure's location wins over all.vars
            "hosts": {
                named: {"http_port": 8080},  # by name: matched to the Azure machine
                # by resource id, spelled in another case: still the same machine
                m_id.resource_id.upper().replace("/PROVIDERS/MICROSOFT.HYBRIDCOMPUTE/MACHINES/",
                                                 "/providers/Microsoft.HybridCompute/machines/")
                .rsplit("/", 1)[0] + "/" + by_id: {"location": "pinned-by-file"},
                "static-only-01": {"subscription_id": "11111111-1111-1111-1111-111111111111",
                                   "resource_group": "OnPrem", "os_type": "linux"},
            },
            "children": {"canary": {"hosts": {other: None}}},
        },
    })
    loaded = await load_inventory_with_sources(inv, connection=connection(sim))
    assert len(loaded.hosts) == 13  # 12 from Azure, one only in the file
    first = loaded.host(named)
    assert first is not None and first.vars["http_port"] == 8080  # host var beats group_vars
    assert first.vars["from_group_vars"] is True and first.vars["owner"] == "ops"
    assert first.machine.location == by_name[named].location  # Azure beats all.vars
    pinned = loaded.host(by_id)
    assert pinned is not None and pinned.machine.location == "pinned-by-file"
    assert pinned.machine.resource_group == m_id.resource_group  # ARM's spelling wins
    assert [h.name for h in loaded.select("canary")] == [other]
    static = loaded.host("static-only-01")
    assert static is not None and static.origin is None and static.machine.location == "nowhere"


async def test_two_machines_with_one_name_get_distinct_host_names(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    inv_src = tmp_path / "fleet.yaml"
    write_inventory(inv_src, {"all": {"hosts": {
        "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/twin":
            {"location": "eastus", "os_type": "linux"},
        "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/rg2/providers/Microsoft.HybridCompute/machines/twin-b":
            {"location": "eastus", "os_type": "linux"},
    }}})
    # The simulator serves machine names as given; rename twin-b to twin in a second RG.
    text = inv_src.read_text().replace("machines/twin-b", "machines/twin")
    inv_src.write_text(text.replace("rg2/providers/Microsoft.HybridCompute/machines/twin:",
                                    "rg2/providers/Microsoft.HybridCompute/machines/twin:"))
    try:
        sim = await sim_factory(inventory=inv_src)
    except Exception:  # the simulator's own loader may refuse duplicate names
        pytest.skip("the simulator cannot serve two machines with one name")
    loaded = await load_inventory_with_sources(
        None, connection=connection(sim), use_cache=False,
        extra_sources=[SourceSpec("arm", ("aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e",))])
    names = sorted(h.name for h in loaded.hosts)
    assert len(names) == 2 and names[0] == "twin" and names[1].startswith("twin-")
    assert {h.machine.name for h in loaded.hosts} == {"twin"}  # ARM's name is kept for calls
    assert len({h.machine.key for h in loaded.hosts}) == 2


async def test_cache_serves_fresh_listings_and_expires_by_the_injected_clock(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=8)
    inv = write_inventory(tmp_path / "inv.yaml", {
        "sources": {"arm": [{"subscriptions": subscriptions(sim)}], "cache_ttl": "10m"}})
    now = MovableNow()
    cache = tmp_path / "cache"

    async def load(refresh: bool = False) -> object:
        return await load_inventory_with_sources(inv, connection=connection(sim), cache_dir=cache,
                                                 now=now, refresh=refresh)

    first = await load()
    calls = list_requests(sim)
    assert calls > 0
    now.advance(599)
    second = await load()
    assert list_requests(sim) == calls  # served from the cache: no ARM read
    host = second.hosts[0]  # type: ignore[attr-defined]
    assert host.origin.from_cache and host.origin.snapshot_at == "2026-11-26T09:00:00Z"
    assert [h.name for h in second.hosts] == [h.name for h in first.hosts]  # type: ignore[attr-defined]
    now.advance(1)  # 600 s old: expired
    third = await load()
    assert list_requests(sim) == 2 * calls
    assert third.hosts[0].origin.snapshot_at == "2026-11-26T09:10:00Z"  # type: ignore[attr-defined]
    await load(refresh=True)
    assert list_requests(sim) == 3 * calls
    assert [p.stat().st_mode & 0o777 for p in cache.iterdir()] == [0o600]


async def test_cache_key_follows_the_source_definition(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=8)
    subs = subscriptions(sim)
    now = MovableNow()
    for chosen in (subs[:1], subs):
        await load_inventory_with_sources(None, connection=connection(sim), cache_dir=tmp_path,
                                          now=now, extra_sources=[SourceSpec("arm", tuple(chosen))])
    assert len(list(tmp_path.glob("inventory-*.json"))) == 2


def test_static_loader_stays_pure_and_refuses_sources(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", {"sources": {"arm": [{"subscription": "s1"}]}})
    with pytest.raises(InventoryError, match="sources: section"):
        load_inventory(inv)


async def test_a_missing_resource_group_is_an_error_not_an_empty_fleet(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(machines=3)
    target = sim.machines[0]
    with pytest.raises(NotFoundError, match="no-such-rg"):
        await load_inventory_with_sources(
            None, connection=connection(sim), use_cache=False,
            extra_sources=[SourceSpec("arm", (target.subscription_id,), ("no-such-rg",))])


async def test_a_file_host_no_source_found_is_named_with_a_hint(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=4)
    inv = write_inventory(tmp_path / "inv.yaml", {
        "sources": {"arm": [{"subscriptions": subscriptions(sim)}]},
        "all": {"hosts": {"arc-typo-0001": {"http_port": 80}}}})
    with pytest.raises(InventoryError, match=r"inv.yaml:\d+: hosts.arc-typo-0001: machine "
                       "'arc-typo-0001' is in the file but no source found it"):
        await load_inventory_with_sources(inv, connection=connection(sim), use_cache=False)
