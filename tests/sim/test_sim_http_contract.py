"""The simulated ARM REST contract over real HTTP: auth, validation, paths, paging, errors."""

from __future__ import annotations

import aiohttp

from fleet.endpoints import API_VERSIONS, GRAPH_API_VERSION
from fleet_sim.app import API_VERSIONS as SIM_API_VERSIONS
from fleet_sim.graph import GRAPH_API_VERSIONS as SIM_GRAPH_API_VERSIONS
from tests.fixtures.sim import SimFactory
from tests.sim.armhttp import API, AUTH, body, connected, machine_url, rc_url


async def test_missing_and_malformed_authorization_answer_401(sim_factory: SimFactory) -> None:
    sim = await sim_factory()
    m = connected(sim)
    url = f"{machine_url(sim, m)}?api-version={API}"
    async with aiohttp.ClientSession() as s:
        for headers, code in (
            ({}, "AuthenticationFailed"),
            ({"Authorization": "Basic abc"}, "InvalidAuthenticationToken"),
            ({"Authorization": "Bearer "}, "InvalidAuthenticationToken"),
        ):
            async with s.get(url, headers=headers) as r:
                assert r.status == 401
                assert (await r.json())["error"]["code"] == code
                assert "WWW-Authenticate" in r.headers
    assert sim.stats()["requests"] == 3


async def test_api_version_is_required_and_checked(sim_factory: SimFactory) -> None:
    sim = await sim_factory()
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(machine_url(sim, m)) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "MissingApiVersionParameter"
        async with s.get(f"{machine_url(sim, m)}?api-version=2099-01-01") as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "InvalidApiVersionParameter"
        for version in API_VERSIONS:  # every version fleet may send
            async with s.get(f"{machine_url(sim, m)}?api-version={version}") as r:
                assert r.status == 200


def test_the_simulator_accepts_every_api_version_fleet_speaks() -> None:
    """The simulator keeps its own lists (what ARM accepts); fleet's constants must be in them."""
    assert set(API_VERSIONS) <= set(SIM_API_VERSIONS)
    assert GRAPH_API_VERSION in SIM_GRAPH_API_VERSIONS


async def test_paths_match_case_insensitively(sim_factory: SimFactory) -> None:
    sim = await sim_factory()
    m = connected(sim)
    url = (
        f"{sim.arm_endpoint}/SUBSCRIPTIONS/{m.subscription_id.upper()}/resourcegroups/"
        f"{m.resource_group.upper()}/PROVIDERS/microsoft.hybridcompute/MACHINES/{m.name.upper()}"
        f"?api-version={API}"
    )
    async with aiohttp.ClientSession(headers=AUTH) as s, s.get(url) as r:
        assert r.status == 200
        assert (await r.json())["name"] == m.name


async def test_unknown_machine_and_run_command_are_404_resource_not_found(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory()
    m = connected(sim)
    ghost = machine_url(sim, m).replace(m.name, "no-such-machine")
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(f"{ghost}?api-version={API}") as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "ResourceNotFound"
        async with s.put(f"{ghost}/runCommands/x?api-version={API}", json=body()) as r:
            assert r.status == 404
        async with s.get(rc_url(sim, m, "never-made")) as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "ResourceNotFound"
        bad_sub = machine_url(sim, m).replace(
            m.subscription_id, "00000000-0000-0000-0000-000000000000"
        )
        async with s.get(f"{bad_sub}?api-version={API}") as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "SubscriptionNotFound"


async def test_put_validation_errors_are_arm_shaped(sim_factory: SimFactory) -> None:
    sim = await sim_factory()
    m = connected(sim)
    cases = [
        ("ok-name", {"properties": {"source": {"script": "x"}}}, "LocationRequired", "location"),
        (
            "ok-name",
            body(**{"source": {"script": "x", "commandId": "y"}}),
            "InvalidParameter",
            "properties.source",
        ),
        (
            "ok-name",
            body(parameters=[{"name": "a"}]),
            "InvalidParameter",
            "properties.parameters[0]",
        ),
        (
            "ok-name",
            body(parameters=[{"name": "a", "value": {"x": 1}}]),
            "InvalidParameter",
            "properties.parameters[0]",
        ),
        (
            "ok-name",
            body(protectedParameters="nope"),
            "InvalidParameter",
            "properties.protectedParameters",
        ),
        ("x" * 37, body(), "InvalidResourceName", "runCommandName"),
        ("bad$name", body(), "InvalidResourceName", "runCommandName"),
    ]
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for name, payload, code, target in cases:
            async with s.put(rc_url(sim, m, name), json=payload) as r:
                assert r.status == 400, (name, payload)
                error = (await r.json())["error"]
                assert (error["code"], error.get("target")) == (code, target)
        async with s.put(
            rc_url(sim, m, "ok-name"),
            data=b"{not json",
            headers={"Content-Type": "application/json"},
        ) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "InvalidRequestContent"
    assert sim.stats()["executions_total"] == 0


async def test_strict_parameter_values_reject_numbers(sim_factory: SimFactory) -> None:
    from fleet_sim.config import Behaviour, Profile

    sim = await sim_factory(profile=Profile(behaviour=Behaviour(parameter_values="strict")))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(
            rc_url(sim, m, "p"), json=body(parameters=[{"name": "port", "value": 443}])
        ) as r:
            assert r.status == 400


async def test_machines_list_pages_with_next_link_across_subscription_and_group(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory(machines=23, subscriptions=2, page_size=4)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        seen: list[str] = []
        for sub in sorted({m.subscription_id for m in sim.machines}):
            url: str | None = (
                f"{sim.arm_endpoint}/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines?api-version={API}"
            )
            pages = 0
            while url:
                async with s.get(url) as r:
                    assert r.status == 200
                    page = await r.json()
                assert len(page["value"]) <= 4
                seen += [v["name"] for v in page["value"]]
                url = page.get("nextLink")
                pages += 1
            assert pages > 1
        assert sorted(seen) == sorted(m.name for m in sim.machines)
        m = sim.machines[0]
        url = f"{sim.arm_endpoint}/subscriptions/{m.subscription_id}/resourceGroups/{m.resource_group}/providers/Microsoft.HybridCompute/machines?api-version={API}"
        names: set[str] = set()
        while url:
            async with s.get(url) as r:
                page = await r.json()
            names |= {v["name"] for v in page["value"]}
            url = page.get("nextLink")
        expected = {
            x.name
            for x in sim.machines
            if (x.subscription_id, x.resource_group) == (m.subscription_id, m.resource_group)
        }
        assert names == expected


async def test_subscription_list_returns_the_fleets_subscriptions(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=10, subscriptions=3)
    async with (
        aiohttp.ClientSession(headers=AUTH) as s,
        s.get(f"{sim.arm_endpoint}/subscriptions?api-version=2022-12-01") as r,
    ):
        assert r.status == 200
        ids = {v["subscriptionId"] for v in (await r.json())["value"]}
        assert "x-ms-ratelimit-remaining-tenant-reads" in r.headers
    assert ids == {m.subscription_id for m in sim.machines}


async def test_machine_properties_carry_preflight_fields(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=60)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        statuses, versions = set(), set()
        for m in sim.machines:
            async with s.get(f"{machine_url(sim, m)}?api-version={API}") as r:
                props = (await r.json())["properties"]
            statuses.add(props["status"])
            versions.add(props["agentVersion"])
            assert props["osType"] in (m.os_type, None)
            assert "agentConfiguration" in props and "lastStatusChange" in props
    assert {"Connected", "Disconnected"} <= statuses
    assert len(versions) >= 2
