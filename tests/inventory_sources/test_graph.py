"""Resource Graph: the client against the simulator's endpoint (paging, quota, errors), and
Resource Graph as an inventory source merged with ARM."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from fleet.arm.credentials import DevTokenProvider
from fleet.arm.graph import GraphClient, GraphQueryError, parse_resets_after
from fleet.arm.transport import AiohttpTransport
from fleet.errors import InventoryError
from fleet.inventory import load_inventory_with_sources
from fleet.inventory.sources.model import SourceSpec
from fleet_sim.server import SimServer
from tests.fixtures.sim import SimFactory
from tests.inventory_sources.helpers import (
    FAST_RETRY,
    SimScaledClock,
    connection,
    graph_requests,
    list_requests,
    subscriptions,
)

MACHINES = "resources | where type =~ 'microsoft.hybridcompute/machines'"


def client(sim: SimServer, clock: SimScaledClock | None = None, page_size: int = 1000) -> GraphClient:
    return GraphClient(endpoint=sim.arm_endpoint, transport=AiohttpTransport(),
                       credential=DevTokenProvider(), retry=FAST_RETRY, page_size=page_size,
                       clock=clock or SimScaledClock(sim.config.time_scale))


async def rows(graph: GraphClient, query: str, subs: list[str] | tuple[str, ...] = ()) -> list[dict[str, object]]:
    async with graph:
        return [dict(r) async for r in graph.query(query, subscriptions=subs)]


async def test_paging_follows_skip_tokens_and_returns_every_row_once(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=11)
    graph = client(sim, page_size=3)
    found = await rows(graph, MACHINES + " | project id, name | order by name asc")
    assert [r["name"] for r in found] == sorted(m.name for m in sim.machines)
    assert graph.stats().pages == 4 and graph_requests(sim) == 4


async def test_filters_on_tags_location_status_and_os_type(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=60)
    m = sim.machines[0]
    query = (MACHINES + f" | where tags['env'] == '{m.tags['env']}' and location =~ "
             f"'{m.location.upper()}' | extend status = tostring(properties.status), osType = "
             f"tostring(properties.osType) | where status == '{m.status}' and osType == "
             f"'{m.os_type}' | project id, name, status, osType, tags")
    found = await rows(client(sim), query)
    expected = {x.name for x in sim.machines if x.tags["env"] == m.tags["env"]
                and x.location == m.location and x.status == m.status and x.os_type == m.os_type}
    assert {r["name"] for r in found} == expected and m.name in expected
    assert set(found[0]) == {"id", "name", "status", "osType", "tags"}  # project keeps only these


async def test_subscriptions_scope_the_query(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=12)
    sub = subscriptions(sim)[1]
    found = await rows(client(sim), MACHINES + " | project id, subscriptionId", [sub])
    assert {r["subscriptionId"] for r in found} == {sub}
    assert len(found) == sum(1 for m in sim.machines if m.subscription_id == sub)


async def test_spent_quota_waits_for_the_window_before_asking(sim_factory: SimFactory) -> None:
    # 2 queries per 50 simulated seconds (0.5 s of wall time): 5 pages need 3 windows. The
    # window is long next to a request even on a busy machine, so the client always has to wait.
    window_s = 50.0
    sim = await sim_factory(machines=10, graph_quota=2, graph_window_s=window_s)
    clock = SimScaledClock(sim.config.time_scale)
    graph = client(sim, clock, page_size=2)
    started = clock.now()
    found = await rows(graph, MACHINES + " | project id")
    assert len(found) == 10
    stats = graph.stats()
    assert stats.pages == 5 and stats.throttled == 0  # it never collected a 429...
    assert stats.quota_wait_s > 0 and clock.slept_s > 0  # ...because it waited instead
    # Pages 3 and 5 were asked in the 2nd and 3rd window: at least 2 windows passed, however
    # the time was split between the client's sleeps and slow requests (simulated seconds).
    assert clock.now() - started >= 2 * window_s * 0.99


async def test_a_429_is_waited_out_with_retry_after(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=4, graph_quota=1, graph_window_s=3.0)
    # Someone else (same principal: same token) spends the quota first.
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim.arm_endpoint + "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01",
            json={"query": MACHINES}, headers={"Authorization": "Bearer fleet-dev-token"},
        ) as response:
            assert response.status == 200
            assert response.headers["x-ms-user-quota-remaining"] == "0"
            assert response.headers["x-ms-user-quota-resets-after"] == "00:00:03"
    graph = client(sim)
    found = await rows(graph, MACHINES + " | project id")
    assert len(found) == 4 and graph.stats().throttled == 1 and graph.stats().retries == 1


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("resources | summarize count() by location", "summarize"),
        ("resources | join kind=inner (resourcecontainers) on subscriptionId", "join"),
        ("securityresources | project id", "securityresources"),
        ("resources | where properties.status matches regex 'C.*'", "comparison"),
        ("resources | where nosuchcolumn == 'x'", "nosuchcolumn"),
        ("resources | extend n = strlen(name)", "strlen"),
        ("resources | order by name asc nulls last", "nulls"),
        ("resources | where name == 'x", "unexpected character"),
    ],
)
async def test_unsupported_kql_is_a_clear_error_never_a_result(
    sim_factory: SimFactory, query: str, words: str
) -> None:
    sim = await sim_factory(machines=3)
    with pytest.raises(GraphQueryError) as caught:
        await rows(client(sim), query)
    assert words in str(caught.value) and "InvalidQuery" in str(caught.value)
    assert caught.value.exit_code == 2 and caught.value.status == 400


async def test_unknown_subscription_is_an_error(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=3)
    with pytest.raises(GraphQueryError, match="does not exist"):
        await rows(client(sim), MACHINES, ["99999999-9999-9999-9999-999999999999"])


def test_resets_after_parsing() -> None:
    assert parse_resets_after("00:00:03") == 3
    assert parse_resets_after("01:02:03.5") == 3723.5
    assert parse_resets_after("1.00:00:01") == 86401
    assert parse_resets_after("soon") is None and parse_resets_after(None) is None


async def test_graph_source_merges_with_arm_by_case_insensitive_id(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=12)
    subs = tuple(subscriptions(sim))
    # ARG lower-cases resourceGroup; ids from the two sources must still meet.
    graph_spec = SourceSpec("resource-graph", subs, query=MACHINES + " | project id, name, "
                            "location, tags, osType = tostring(properties.osType), status = "
                            "tostring(properties.status), resourceGroup")
    arm_spec = SourceSpec("arm", subs)
    loaded = await load_inventory_with_sources(
        None, connection=connection(sim), use_cache=False, extra_sources=[graph_spec, arm_spec],
        clock=SimScaledClock(sim.config.time_scale))
    assert len(loaded.hosts) == 12 and list_requests(sim) > 0 and graph_requests(sim) == 1
    assert {h.origin.source for h in loaded.hosts if h.origin} == {graph_spec.label}  # first wins
    by_name = {m.name: m for m in sim.machines}
    for host in loaded.hosts:
        assert host.machine.resource_group == by_name[host.name].resource_group  # from the id
        assert host.machine.os_type == by_name[host.name].os_type


async def test_graph_query_without_id_or_of_other_types_is_refused(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=3)
    spec = SourceSpec("resource-graph", (), query=MACHINES + " | project name")
    with pytest.raises(InventoryError, match="id column"):
        await load_inventory_with_sources(None, connection=connection(sim), use_cache=False,
                                          extra_sources=[spec])


async def test_graph_answers_carry_no_secrets_and_quota_headers_on_errors(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=2)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim.arm_endpoint + "/providers/Microsoft.ResourceGraph/resources?api-version=2019-01-01",
            json={"query": MACHINES}, headers={"Authorization": "Bearer fleet-dev-token"},
        ) as response:
            body = json.loads(await response.text())
            assert response.status == 400 and "x-ms-user-quota-remaining" in response.headers
            assert body["error"]["details"][0]["code"] == "InvalidApiVersionParameter"
            assert "fleet-dev-token" not in json.dumps(body)
