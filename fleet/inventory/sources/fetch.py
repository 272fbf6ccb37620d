"""Ask a source for its machines: ARM's machine listing or a Resource Graph query."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fleet.errors import InventoryError
from fleet.inventory.sources.model import Discovered, SourceSpec

if TYPE_CHECKING:
    from fleet.arm.protocol import GraphQuery, MachineReader

__all__ = ["discovered_from_row", "fetch_source"]

_MACHINE_ID = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.HybridCompute"
    r"/machines/([^/]+)/?$",
    re.IGNORECASE,
)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)


def discovered_from_row(row: Mapping[str, Any], *, source: str, snapshot_at: str) -> Discovered:
    """One Resource Graph row: whole ``resources`` rows or projected ones. ``id`` is required;
    ``location``, ``tags`` and ``osType``/``status``/``agentVersion``/``osName`` are read from
    columns of those names or from ``properties``."""
    ident = _text(row.get("id"))
    if ident is None:
        raise InventoryError(f"{source}: the query must return the id column (project id, ...)",
                             field="query")
    match = _MACHINE_ID.match(ident)
    if match is None:
        raise InventoryError(f"{source}: row {ident[:200]!r} is not an Arc machine (filter on "
                             "type =~ 'microsoft.hybridcompute/machines')", field="query")
    props = row.get("properties")
    props = props if isinstance(props, Mapping) else {}

    def field(column: str) -> str | None:
        return _text(row.get(column)) or _text(props.get(column))

    tags = row.get("tags")
    return Discovered(
        subscription_id=match.group(1),
        resource_group=match.group(2),  # from the id: ARG lower-cases the resourceGroup column
        name=match.group(3),
        location=_text(row.get("location")) or "",
        os_type=(field("osType") or "").lower(),
        tags={str(k): "" if v is None else str(v)
              for k, v in (tags.items() if isinstance(tags, Mapping) else ())},
        status=field("status"),
        agent_version=field("agentVersion"),
        os_name=field("osName"),
        source=source,
        snapshot_at=snapshot_at,
    )


async def fetch_source(spec: SourceSpec, *, arm: MachineReader | None, graph: GraphQuery | None,
                       snapshot_at: str) -> list[Discovered]:
    """Every machine ``spec`` lists, in the source's order."""
    out: list[Discovered] = []
    if spec.kind == "arm":
        assert arm is not None
        for sub in spec.subscriptions:
            for group in spec.resource_groups or (None,):
                async for info in arm.list_machines(sub, group):
                    ref = info.ref
                    out.append(Discovered(
                        subscription_id=ref.subscription_id, resource_group=ref.resource_group,
                        name=ref.name, location=ref.location, os_type=ref.os_type,
                        tags=dict(info.tags), status=info.status,
                        agent_version=info.agent_version, os_name=info.os_name,
                        source=spec.label, snapshot_at=snapshot_at))
        return out
    assert graph is not None and spec.query is not None
    async for row in graph.query(spec.query, subscriptions=spec.subscriptions):
        out.append(discovered_from_row(row, source=spec.label, snapshot_at=snapshot_at))
    return out
