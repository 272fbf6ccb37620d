"""Run command semantics (API.md §4) over real HTTP against the real simulated agent."""

from __future__ import annotations

import asyncio

import aiohttp

from fleet_sim.agent_profile import parse_agent_profile
from fleet_sim.config import Behaviour, MachineOverride, Profile
from tests.fixtures.sim import SimFactory
from tests.sim.armhttp import AUTH, body, connected, finished, machine_url, poll_operation, rc_url

SLOW = parse_agent_profile(
    {"start_latency_s": 0, "rules": [{"match": {"script": "hang"}, "duration_s": 100000}]},
    source="test",
)


async def test_put_creates_runs_once_and_reports_through_the_operation(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory()
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "first"), json=body(runAsPassword="hunter2-secret")) as r:
            assert r.status == 201
            created = await r.json()
            for header in ("Azure-AsyncOperation", "Location", "Retry-After"):
                assert header in r.headers
            op_url = r.headers["Azure-AsyncOperation"]
            text = await r.text()
        assert created["properties"]["provisioningState"] == "Creating"
        assert "hunter2" not in text and "runAsPassword" not in text
        status = await poll_operation(s, op_url)
        assert status["status"] == "Succeeded"
        async with s.get(rc_url(sim, m, "first")) as r:
            got = await r.json()
        assert got["properties"]["provisioningState"] == "Succeeded"
        assert got["properties"]["instanceView"]["executionState"] == "Succeeded"
        assert got["properties"]["protectedParameters"] == []
    assert sim.stats()["executions"] == {m.resource_id: 1}


async def test_identical_put_does_not_run_again_unless_configured(sim_factory: SimFactory) -> None:
    for rerun, expected in ((False, 1), (True, 2)):
        sim = await sim_factory(rerun_identical_put=rerun)
        m = connected(sim)
        async with aiohttp.ClientSession(headers=AUTH) as s:
            async with s.put(
                rc_url(sim, m, "same"), json=body(protectedParameters=[{"name": "k", "value": "v"}])
            ) as r:
                assert r.status == 201
            await finished(sim, m, "same")
            async with s.put(
                rc_url(sim, m, "same"), json=body(protectedParameters=[{"name": "k", "value": "v"}])
            ) as r:
                assert r.status == 200
                assert ("Azure-AsyncOperation" in r.headers) is rerun
        assert sim.stats()["executions"][m.resource_id] == expected


async def test_changed_put_stops_the_running_execution_and_runs_the_new_one(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory(profile=Profile(agent=SLOW))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "cmd"), json=body("hang")) as r:
            old_op = r.headers["Azure-AsyncOperation"]
        old = sim.state.get(m, "cmd")
        assert old is not None and old.execution is not None
        first = old.execution
        async with s.put(rc_url(sim, m, "cmd"), json=body("echo new")) as r:
            assert r.status == 200
            new_op = r.headers["Azure-AsyncOperation"]
        async with asyncio.timeout(120):  # a hang guard only
            await first.finished.wait()
        assert first.instance_view()["executionState"] == "Canceled"
        assert (await poll_operation(s, old_op))["status"] == "Canceled"
        assert (await poll_operation(s, new_op))["status"] == "Succeeded"
    stats = sim.stats()
    assert stats["executions"][m.resource_id] == 2
    assert stats["cancels"] == 1


async def test_patch_with_tags_only_updates_tags_without_running(sim_factory: SimFactory) -> None:
    sim = await sim_factory()
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "t"), json=body()) as r:
            assert r.status == 201
        async with s.patch(rc_url(sim, m, "t"), json={"tags": {"a": "b"}}) as r:
            assert r.status == 200
            assert (await r.json())["tags"] == {"a": "b"}
        async with s.patch(rc_url(sim, m, "missing"), json={"tags": {}}) as r:
            assert r.status == 404
    assert sim.stats()["executions"][m.resource_id] == 1


async def test_patch_with_full_properties_reruns_like_the_seed_step_3(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory(profile=Profile(agent=SLOW))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "p"), json=body("hang")) as r:
            assert r.status == 201
        async with s.patch(rc_url(sim, m, "p"), json=body("echo updated")) as r:
            assert r.status == 200
            op = r.headers["Azure-AsyncOperation"]
        assert (await poll_operation(s, op))["status"] == "Succeeded"
    assert sim.stats()["executions"][m.resource_id] == 2
    assert sim.stats()["cancels"] == 1


async def test_delete_stops_a_running_command_then_removes_it(sim_factory: SimFactory) -> None:
    sim = await sim_factory(profile=Profile(agent=SLOW))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "d"), json=body("hang")) as r:
            put_op = r.headers["Azure-AsyncOperation"]
        rc = sim.state.get(m, "d")
        assert rc is not None and rc.execution is not None
        execution = rc.execution
        async with s.delete(rc_url(sim, m, "d")) as r:
            assert r.status == 202
            location = r.headers["Location"]
            assert "Azure-AsyncOperation" in r.headers and "Retry-After" in r.headers
        async with asyncio.timeout(120):  # a hang guard only
            await execution.finished.wait()
        assert execution.instance_view()["executionState"] == "Canceled"
        assert (await poll_operation(s, put_op))["status"] == "Canceled"
        async with s.get(location) as r:
            assert r.status == 204
        async with s.get(rc_url(sim, m, "d")) as r:
            assert r.status == 404
        async with s.delete(rc_url(sim, m, "d")) as r:
            assert r.status == 204
    assert sim.stats()["cancels"] == 1


async def test_timeout_ends_the_execution_as_timed_out(sim_factory: SimFactory) -> None:
    sim = await sim_factory(profile=Profile(agent=SLOW))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "slow"), json=body("hang", timeoutInSeconds=1)) as r:
            op = r.headers["Azure-AsyncOperation"]
        await finished(sim, m, "slow")
        assert (await poll_operation(s, op))["status"] == "Succeeded"  # provisioning worked
        async with s.get(rc_url(sim, m, "slow")) as r:
            view = (await r.json())["properties"]["instanceView"]
    assert view["executionState"] == "TimedOut"
    assert sim.stats()["timeouts"] == 1


async def test_async_execution_completes_provisioning_when_the_script_starts(
    sim_factory: SimFactory,
) -> None:
    sim = await sim_factory(profile=Profile(agent=SLOW))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "a"), json=body("hang", asyncExecution=True)) as r:
            op = r.headers["Azure-AsyncOperation"]
        assert (await poll_operation(s, op))["status"] == "Succeeded"
        async with s.get(rc_url(sim, m, "a")) as r:
            props = (await r.json())["properties"]
    assert props["provisioningState"] == "Succeeded"
    assert props["instanceView"]["executionState"] == "Running"


async def test_unreachable_machines_never_execute_in_each_mode(sim_factory: SimFactory) -> None:
    override = (
        MachineOverride(name_glob="arc-*-0002", status="Disconnected"),
        MachineOverride(name_glob="arc-*-0003", agent_version="1.32.0"),
    )
    for mode in ("fail", "reject", "pending"):
        sim = await sim_factory(
            profile=Profile(
                overrides=override, behaviour=Behaviour(unreachable=mode, unreachable_after_s=0)
            )
        )  # type: ignore[arg-type]
        targets = sorted(
            (m for m in sim.machines if m.name.endswith(("-0002", "-0003"))), key=lambda m: m.name
        )
        assert len(targets) == 2
        async with aiohttp.ClientSession(headers=AUTH) as s:
            for m, code in zip(
                targets, ("MachineNotConnected", "AgentVersionNotSupported"), strict=True
            ):
                async with s.put(rc_url(sim, m, "u"), json=body()) as r:
                    if mode == "reject":
                        assert r.status == 409
                        assert (await r.json())["error"]["code"] == code
                        continue
                    assert r.status == 201
                    op = r.headers["Azure-AsyncOperation"]
                if mode == "fail":
                    status = await poll_operation(s, op)
                    assert status["status"] == "Failed" and status["error"]["code"] == code
                    async with s.get(rc_url(sim, m, "u")) as r:
                        props = (await r.json())["properties"]
                    assert props["provisioningState"] == "Failed"
                    assert props["instanceView"]["executionState"] == "Unknown"
                else:
                    async with s.get(op) as r:
                        assert (await r.json())["status"] == "InProgress"
        assert sim.stats()["executions_total"] == 0
        assert sim.stats()["unreachable"] == 2


async def test_run_command_list_pages(sim_factory: SimFactory) -> None:
    sim = await sim_factory(page_size=2)
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for i in range(5):
            async with s.put(rc_url(sim, m, f"rc-{i}"), json=body()) as r:
                assert r.status == 201
        url: str | None = f"{machine_url(sim, m)}/runCommands?api-version=2024-11-10-preview"
        names: list[str] = []
        while url:
            async with s.get(url) as r:
                page = await r.json()
            assert len(page["value"]) <= 2
            names += [v["name"] for v in page["value"]]
            url = page.get("nextLink")
    assert names == [f"rc-{i}" for i in range(5)]


async def test_instance_view_output_keeps_only_the_last_4096_bytes(sim_factory: SimFactory) -> None:
    agent = parse_agent_profile(
        {"start_latency_s": 0, "duration_s": 0, "output_bytes": 20000}, source="test"
    )
    sim = await sim_factory(profile=Profile(agent=agent))
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.put(rc_url(sim, m, "big"), json=body()) as r:
            assert r.status == 201
        await finished(sim, m, "big")
        async with s.get(rc_url(sim, m, "big")) as r:
            output = (await r.json())["properties"]["instanceView"]["output"]
    assert 3000 < len(output.encode()) <= 4096
