"""Every response body the simulator gives validates against the official spec's schemas."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from fleet_sim.config import BucketSpec, MachineOverride, NullsSpec, Profile, ThrottleSpec
from tests.fixtures.sim import SimFactory
from tests.sim import specschema
from tests.sim.armhttp import AUTH, body, connected, finished, machine_url, rc_url

VERSIONS = ("2024-11-10-preview", "2025-01-13")


def test_the_specs_own_examples_pass_the_validator() -> None:
    example = specschema.spec_dir() / specschema.EXAMPLE
    listing = json.loads(example.read_text())["responses"]["200"]["body"]
    assert specschema.errors("2025-01-13", "MachineListResult", listing) == []
    # ...and the validator does reject a wrong shape, so passing means something.
    assert specschema.errors(
        "2025-01-13", "MachineRunCommand", {"properties": {"parameters": [{"name": 1}]}}
    )


def test_the_vendored_spec_is_exactly_what_the_tests_resolve() -> None:
    root = specschema.VENDORED
    held = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert held == {*specschema.RESOLVED, "LICENSE"}


@pytest.mark.parametrize("api", VERSIONS)
async def test_all_response_bodies_validate(sim_factory: SimFactory, api: str) -> None:
    profile = Profile(
        nulls=NullsSpec(fraction=0.5, level="full"),
        overrides=(MachineOverride(name_glob="arc-*-0004", status="Disconnected"),),
        throttle=ThrottleSpec(reads=BucketSpec(1000, 1000), writes=BucketSpec(12, 0.001)),
    )
    sim = await sim_factory(machines=12, page_size=5, profile=profile)
    m = connected(sim)
    checked: list[tuple[str, int, Any]] = []

    async def check(r: aiohttp.ClientResponse, definition: str) -> Any:
        data = await r.json()
        name = definition if r.status < 300 else "ErrorResponse"
        problems = specschema.errors(api, name, data)
        assert problems == [], (r.method, str(r.url), problems)
        checked.append((name, r.status, data))
        return data

    async with aiohttp.ClientSession(headers=AUTH) as s:
        for sub in sorted({x.subscription_id for x in sim.machines}):
            url: str | None = (
                f"{sim.arm_endpoint}/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines?api-version={api}"
            )
            while url:
                async with s.get(url) as r:
                    url = (await check(r, "MachineListResult")).get("nextLink")
        async with s.get(f"{machine_url(sim, m)}?api-version={api}") as r:
            await check(r, "Machine")
        full = body(
            parameters=[{"name": "a", "value": "1"}],
            protectedParameters=[{"name": "s", "value": "secret"}],
            runAsUser="u",
            runAsPassword="pw",
            timeoutInSeconds=60,
            outputBlobUri="https://acct.blob.core.windows.net/c/out.txt?sv=1&sig=abc",
        )
        async with s.put(rc_url(sim, m, "v1", api), json=full) as r:
            assert r.status == 201
            await check(r, "MachineRunCommand")
        await finished(sim, m, "v1")
        async with s.put(rc_url(sim, m, "v1", api), json=full) as r:
            assert r.status == 200
            await check(r, "MachineRunCommand")
        async with s.patch(rc_url(sim, m, "v1", api), json={"tags": {"x": "y"}}) as r:
            await check(r, "MachineRunCommand")
        async with s.get(rc_url(sim, m, "v1", api)) as r:
            data = await check(r, "MachineRunCommand")
            assert "sig=" not in json.dumps(data)
        async with s.get(f"{machine_url(sim, m)}/runCommands?api-version={api}") as r:
            await check(r, "MachineRunCommandsListResult")
        for bad in ({"properties": {}}, body(parameters=[{"name": "x"}])):
            async with s.put(rc_url(sim, m, "v2", api), json=bad) as r:
                assert r.status == 400
                await check(r, "ErrorResponse")
        async with s.get(rc_url(sim, m, "nope", api)) as r:
            await check(r, "ErrorResponse")
        async with (
            aiohttp.ClientSession() as anonymous,
            anonymous.get(rc_url(sim, m, "v1", api)) as r,
        ):
            await check(r, "ErrorResponse")
        for i in range(12):  # the write bucket holds 12 and hardly refills: the rest are 429
            async with s.put(rc_url(sim, m, f"w{i}", api), json=body()) as r:
                if r.status == 429:
                    await check(r, "ErrorResponse")
                    break
        else:
            raise AssertionError("expected a 429")
    statuses = {status for _, status, _ in checked}
    assert {200, 201, 400, 401, 404, 429} <= statuses
