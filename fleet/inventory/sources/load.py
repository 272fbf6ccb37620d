"""``load_inventory_with_sources``: the static file plus what Azure says, as one Inventory.

For a file without ``sources:`` (and no extra sources from the command line) this is exactly
``load_inventory`` and touches nothing. Otherwise each source is read from the cache when its
listing is younger than ``cache_ttl``, else from Azure (ARM listing or Resource Graph), then
merged by resource id with the file (see ``fleet.inventory.loader.build_inventory``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.errors import UsageError
from fleet.inventory.defaults import Defaults
from fleet.inventory.loader import build_inventory, load_inventory, read_sources
from fleet.inventory.model import Inventory
from fleet.inventory.sources.cache import SourceCache, default_cache_dir, iso_utc
from fleet.inventory.sources.fetch import fetch_source
from fleet.inventory.sources.model import Discovered, SourcesConfig, SourceSpec

if TYPE_CHECKING:
    from fleet.arm.protocol import ArmConnection
    from fleet.arm.transport import Transport
    from fleet.clock import Clock

__all__ = ["load_inventory_with_sources"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def load_inventory_with_sources(
    path: Path | None,
    *,
    connection: ArmConnection | None = None,
    cache_dir: Path | None = None,
    now: Callable[[], datetime] | None = None,
    extra_sources: Sequence[SourceSpec] = (),
    refresh: bool = False,
    use_cache: bool = True,
    transport: Transport | None = None,
    clock: Clock | None = None,
    defaults: Defaults | None = None,
) -> Inventory:
    """The inventory of ``path`` (None: only ``extra_sources``) with its sources resolved.

    ``connection`` is the run's ``fleet.engine.session.Connection`` (endpoint, api-version,
    credential name, CA file, ARM limits, retry policy). ``refresh`` ignores fresh cache
    entries (and rewrites them); ``use_cache=False`` neither reads nor writes the cache.
    ``transport``/``clock`` are test seams handed to the ARM and Resource Graph clients.
    ``defaults`` (``--defaults FILE``) fills the Azure keys an Ansible inventory lacks.
    """
    config: SourcesConfig | None = read_sources(path) if path is not None else None
    if config is None and not extra_sources:
        if path is None:
            raise UsageError("give an inventory file (-i) or a source (--source arm "
                             "--subscription S, or --query KQL)")
        return load_inventory(path, defaults=defaults)
    if config is None:
        config = SourcesConfig(tuple(extra_sources))
    elif extra_sources:
        config = dataclasses.replace(config, sources=config.sources + tuple(extra_sources))
    if connection is None:
        raise UsageError("this inventory reads machines from Azure: give the ARM connection "
                         "options (--arm-endpoint, --credential, ...)")
    now = now or _utc_now
    cache = SourceCache(cache_dir or default_cache_dir(), now=now) if use_cache else None
    endpoint = connection.arm_endpoint.rstrip("/")
    listings: list[list[Discovered] | None] = []
    pending: list[SourceSpec] = []
    for spec in config.sources:
        cached = None
        if cache is not None and not refresh:
            cached = cache.get(spec.cache_key(endpoint=endpoint), ttl_s=config.cache_ttl_s,
                               label=spec.label)
        listings.append(cached)
        if cached is None:
            pending.append(spec)
    fetched = await _fetch_all(pending, connection, now, transport, clock) if pending else []
    discovered: list[Discovered] = []
    fresh = iter(fetched)
    for spec, listing in zip(config.sources, listings, strict=True):
        if listing is None:
            listing, snapshot = next(fresh)
            if cache is not None and config.cache_ttl_s > 0:
                cache.put(spec.cache_key(endpoint=endpoint), label=spec.label,
                          machines=listing, fetched_at=snapshot)
        discovered.extend(listing)  # in source order: the first source to list a machine wins
    return build_inventory(path, discovered=discovered, keyed_groups=config.keyed_groups,
                           defaults=defaults)


async def _fetch_all(pending: Sequence[SourceSpec], connection: ArmConnection,
                     now: Callable[[], datetime], transport: Transport | None, clock: Clock | None
                     ) -> list[tuple[list[Discovered], str]]:
    """Each pending source's machines and snapshot time, in order, over one transport."""
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential
    from fleet.arm.graph import GraphClient
    from fleet.arm.retry import RetryPolicy
    from fleet.arm.throttle import ArmLimits
    from fleet.arm.transport import make_transport

    endpoint = connection.arm_endpoint.rstrip("/")
    credential = build_credential(connection.credential, endpoint=endpoint,
                                  ca_file=connection.ca_file)
    own_transport = transport is None
    transport = transport or make_transport(ca_file=connection.ca_file, endpoint=endpoint)
    retry = connection.retry if connection.retry is not None else RetryPolicy()
    limits = connection.arm_limits if connection.arm_limits is not None else ArmLimits()
    out: list[tuple[list[Discovered], str]] = []
    try:
        arm = ArmClient(endpoint=endpoint, transport=transport, credential=credential,
                        api_version=connection.api_version, clock=clock, limits=limits,
                        retry=retry)
        graph = GraphClient(endpoint=endpoint, transport=transport, credential=credential,
                            clock=clock, retry=retry)
        for spec in pending:
            snapshot = iso_utc(now())
            machines = await fetch_source(spec, arm=arm, graph=graph, snapshot_at=snapshot)
            out.append((machines, snapshot))
    finally:
        if own_transport:
            await transport.aclose()
        await credential.aclose()
    return out
