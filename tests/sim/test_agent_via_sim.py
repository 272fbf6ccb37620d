"""End to end: run commands PUT to the simulator over HTTP, the agent writes Azurite blobs through
the SAS URIs in the request, and the blobs equal what instanceView reports."""

from __future__ import annotations

import aiohttp

from fleet_sim.agent_profile import parse_agent_profile
from fleet_sim.azurite import Azurite
from fleet_sim.config import Behaviour, Profile
from fleet_sim.stats import process_cpu_s
from tests.fixtures.sim import SimFactory
from tests.sim.agent_helpers import new_store
from tests.sim.armhttp import AUTH, body, finished, rc_url


def _modern(version: str) -> bool:
    return tuple(int(part) for part in version.split(".")[:2]) >= (1, 33)


AGENT = parse_agent_profile({"start_latency_s": 0, "duration_s": 1}, source="test")


async def test_blobs_equal_the_agent_output_for_several_machines_and_are_overwritten(
    sim_factory: SimFactory, azurite: Azurite
) -> None:
    store = await new_store(azurite, "e2e")
    sim = await sim_factory(profile=Profile(agent=AGENT, behaviour=Behaviour(lro_retry_after_s=0)))
    machines = [m for m in sim.machines if m.status == "Connected" and m.agent_version >= "1.33"][
        :3
    ]
    assert len(machines) == 3
    async with aiohttp.ClientSession(headers=AUTH) as session:
        for attempt in ("first", "second"):
            for m in machines:
                props = {
                    "parameters": [{"name": "attempt", "value": attempt}],
                    "protectedParameters": [{"name": "key", "value": f"hidden-{m.name}"}],
                    "timeoutInSeconds": 600,
                    "outputBlobUri": store.sas_url(f"{m.name}.out"),
                    "errorBlobUri": store.sas_url(f"{m.name}.err"),
                }
                # A changed body (new parameter value) makes the simulator run it again.
                async with session.put(rc_url(sim, m, "cmd"), json=body("echo hi", **props)) as r:
                    assert r.status in (200, 201), await r.text()
            for m in machines:
                await finished(sim, m, "cmd")
            for m in machines:
                async with session.get(rc_url(sim, m, "cmd")) as r:
                    view = (await r.json())["properties"]["instanceView"]
                content = (await store.read(f"{m.name}.out")).decode()
                assert view["executionState"] == "Succeeded"
                assert content == view["output"]
                assert content.startswith(f"fleet-sim: machine={m.name} os=")
                assert f"fleet-sim: param attempt={attempt}\n" in content
                assert "fleet-sim: protected key=***\n" in content
                assert f"hidden-{m.name}" not in content
                assert await store.read(f"{m.name}.err") == b""
    for m in machines:
        final = (await store.read(f"{m.name}.out")).decode()
        assert "attempt=second" in final and "attempt=first" not in final
    # The agents' storage traffic is counted: both blobs created by each of 6 executions, the
    # output appended (nothing on stderr: nothing appended there), nothing lost.
    storage = sim.stats()["storage"]
    assert storage["creates"] == 12
    assert 6 <= storage["appends"] <= 12
    assert storage["failed"] == 0 and storage["failed_by_stream"] == {}
    cpu = sim.stats()["cpu_s"]
    assert cpu["simulator"] > 0 and cpu["since_reset"]["simulator"] >= 0
    used = process_cpu_s(azurite.process.pid)
    assert used is not None and used > 0  # the emulator's own CPU is readable apart
