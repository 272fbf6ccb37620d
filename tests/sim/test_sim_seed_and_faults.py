"""The seed walkthrough's request bodies replayed over HTTP, throttling, and seeded faults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest

from fleet_sim.config import BucketSpec, DisconnectSpec, Faults, Profile, ThrottleSpec
from tests.fixtures.sim import SimFactory
from tests.sim.armhttp import AUTH, connected, machine_url, poll_operation, rc_url

# The walkthrough's request bodies, vendored (provenance and licence: tests/data/README.md).
SEED = Path(__file__).resolve().parents[1] / "data" / "seed" / "run-command-rest-bodies.md"


def seed_bodies() -> list[dict[str, object]]:
    """The three JSON bodies of the walkthrough (step 1 inline, step 1 scriptUri, step 3 PATCH),
    with the document's missing comma after runAsPassword put back."""
    text = SEED.read_text()
    blocks = re.findall(r"```json\s*\n(.*?)```", text, re.DOTALL)
    return [json.loads(re.sub(r'("runAsPassword": "[^"]*")\s*\n', r"\1,\n", b)) for b in blocks[:3]]


async def test_seed_walkthrough_replays_with_documented_behaviour(sim_factory: SimFactory) -> None:
    inline, by_uri, patch = seed_bodies()
    assert inline["properties"]["parameters"][2]["value"] == 433  # type: ignore[index]
    sim = await sim_factory()
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        api = "2024-11-10-preview"
        async with s.put(rc_url(sim, m, "EndpointAccessCommand", api), json=inline) as r:
            assert r.status == 201, await r.text()
            text = await r.text()
            op = r.headers["Azure-AsyncOperation"]
        assert "Contoso123!" not in text
        assert (await poll_operation(s, op))["status"] == "Succeeded"
        # Step 2: GET shows it provisioned; parameters came back as strings.
        async with s.get(rc_url(sim, m, "endpointaccesscommand", api)) as r:
            props = (await r.json())["properties"]
        assert props["provisioningState"] == "Succeeded"
        assert props["parameters"][2] == {"name": "port", "value": "433"}
        async with s.put(rc_url(sim, m, "EndpointAccessByUri", api), json=by_uri) as r:
            assert r.status == 201
        # Step 3: PATCH with full properties stops the previous run and runs the new one.
        async with s.patch(rc_url(sim, m, "EndpointAccessCommand", api), json=patch) as r:
            assert r.status == 200
            assert (await r.json())["properties"]["parameters"][1]["value"] == "*.waconazure.com"
        # Step 4: LIST; step 5: DELETE.
        async with s.get(f"{machine_url(sim, m)}/runCommands?api-version={api}") as r:
            assert {v["name"] for v in (await r.json())["value"]} == {
                "EndpointAccessCommand",
                "EndpointAccessByUri",
            }
        async with s.delete(rc_url(sim, m, "EndpointAccessCommand", api)) as r:
            assert r.status == 202
    assert sim.stats()["executions"][m.resource_id] == 3


async def test_empty_write_bucket_answers_429_with_retry_after_and_headers(
    sim_factory: SimFactory,
) -> None:
    # One write token per 1000 simulated seconds (10 wall s): the counts below cannot depend on
    # how fast the requests go (at 0.5/s a token came back every 20 ms).
    throttle = ThrottleSpec(writes=BucketSpec(3, 0.001), reads=BucketSpec(1000, 100))
    sim = await sim_factory(profile=Profile(throttle=throttle))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        remaining = []
        for i in range(3):
            async with s.patch(rc_url(sim, m, f"n{i}"), json={"tags": {}}) as r:
                assert r.status == 404  # still counted against the write bucket
                remaining.append(int(r.headers["x-ms-ratelimit-remaining-subscription-writes"]))
                assert "x-ms-ratelimit-remaining-subscription-global-writes" in r.headers
        assert remaining == [2, 1, 0]
        async with s.patch(rc_url(sim, m, "n9"), json={"tags": {}}) as r:
            assert r.status == 429
            assert int(r.headers["Retry-After"]) >= 1
            assert (await r.json())["error"]["code"] == "SubscriptionRequestsThrottled"
        async with s.get(f"{machine_url(sim, m)}?api-version=2025-01-13") as r:
            assert r.status == 200  # reads have their own bucket
        other = {"Authorization": "Bearer someone-else"}
        async with s.patch(rc_url(sim, m, "n9"), json={"tags": {}}, headers=other) as r:
            assert r.status == 404  # another principal has its own bucket
    assert sim.stats()["throttled"] == 1


@pytest.mark.parametrize(
    ("faults", "expected_status", "counter"),
    [
        (Faults(error_rate=1.0, error_statuses=(503,)), 503, "http_503"),
        (Faults(throttle_rate=1.0), 429, "throttle"),
    ],
)
async def test_injected_errors_and_429s(
    sim_factory: SimFactory, faults: Faults, expected_status: int, counter: str
) -> None:
    sim = await sim_factory(profile=Profile(faults=faults))
    m = connected(sim)
    async with (
        aiohttp.ClientSession(headers=AUTH) as s,
        s.get(f"{machine_url(sim, m)}?api-version=2025-01-13") as r,
    ):
        assert r.status == expected_status
        assert "error" in await r.json()
        assert "Retry-After" in r.headers
    assert sim.stats()["faults"][counter] == 1


async def test_dropped_connections_before_and_after_acting(sim_factory: SimFactory) -> None:
    for faults, ran in (
        (Faults(drop_before_rate=1.0, methods=("PUT",)), 0),
        (Faults(drop_after_rate=1.0, methods=("PUT",)), 1),
    ):
        sim = await sim_factory(profile=Profile(faults=faults))
        m = connected(sim)
        async with aiohttp.ClientSession(headers=AUTH) as s:
            with pytest.raises(aiohttp.ClientError):
                async with s.put(
                    rc_url(sim, m, "drop"),
                    json={"location": "x", "properties": {"source": {"script": "x"}}},
                ) as r:
                    await r.read()
        assert sim.stats()["executions_total"] == ran


async def test_stuck_executions_stay_creating(sim_factory: SimFactory) -> None:
    sim = await sim_factory(profile=Profile(faults=Faults(stuck_rate=1.0)))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(
            rc_url(sim, m, "stuck"),
            json={"location": "x", "properties": {"source": {"script": "x"}}},
        ) as r:
            op = r.headers["Azure-AsyncOperation"]
        async with s.get(op) as r:
            assert (await r.json())["status"] == "InProgress"
        async with s.get(rc_url(sim, m, "stuck")) as r:
            assert (await r.json())["properties"]["provisioningState"] == "Creating"
    assert sim.stats()["stuck"] == 1 and sim.stats()["executions_total"] == 0


async def test_tokens_expire_after_their_lifetime(sim_factory: SimFactory) -> None:
    sim = await sim_factory(profile=Profile(faults=Faults(token_lifetime_s=0)))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        codes = []
        for _ in range(3):
            async with s.get(f"{machine_url(sim, m)}?api-version=2025-01-13") as r:
                codes.append(r.status)
    assert codes[0] == 200  # first sight starts the clock
    assert codes[-1] == 401


async def test_seeded_disconnects_are_reproducible(sim_factory: SimFactory) -> None:
    faults = Faults(disconnect=DisconnectSpec(fraction=0.5, after_s=0))
    first = await sim_factory(machines=30, profile=Profile(faults=faults))
    second = await sim_factory(machines=30, profile=Profile(faults=faults))
    down = [m.name for m in first.machines if m.status == "Disconnected"]
    assert down == [m.name for m in second.machines if m.status == "Disconnected"]
    assert 5 < len(down) < 25
