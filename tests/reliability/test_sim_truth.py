"""``/_sim/truth``: per machine, what really ran, survives deletion, and never shows secrets;
the agent profile's ``blob_latency_s`` knob (slow storage) parses and slows blob requests."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import aiohttp
import pytest

from fleet.errors import InputError
from fleet_sim import agent_profile as ap
from fleet_sim.blobwriter import AppendBlobWriter
from fleet_sim.config import Faults, MachineOverride
from tests.fixtures.sim import FAST, SimFactory
from tests.sim.armhttp import AUTH, body, connected, finished, rc_url

SECRET = "truth-test-password-7731"


async def test_truth_lists_each_execution_and_survives_delete(sim_factory: SimFactory) -> None:
    sim = await sim_factory(machines=3)
    m = connected(sim)
    async with aiohttp.ClientSession(headers=AUTH) as session:
        url = rc_url(sim, m, "one")
        async with session.put(url, json=body(runAsPassword=SECRET)) as r:
            assert r.status == 201
        await finished(sim, m, "one")
        async with session.delete(url) as r:
            assert r.status in (200, 202, 204)
        async with session.get(f"{sim.arm_endpoint}/_sim/truth") as r:
            assert r.status == 200
            text = await r.text()
            truth = await r.json()
    assert SECRET not in text
    runs = truth["machines"][m.resource_id.lower()]
    assert len(runs) == 1
    assert runs[0]["kind"] == "executed" and runs[0]["run_command"] == "one"
    assert runs[0]["execution_state"] == "Succeeded" and runs[0]["exit_code"] == 0
    assert runs[0]["output_bytes"] > 0 and runs[0]["blob_failure"] is None
    assert sim.state.get(m, "one") is None  # deleted, yet the truth remains


async def test_truth_says_when_a_script_ended_and_whether_anyone_was_told(
    sim_factory: SimFactory,
) -> None:
    """The fault oracle's evidence: a script that ended after the client's last look (never
    reported ended before its DELETE) differs from one whose end a GET showed."""
    agent = ap.parse_agent_profile(
        {"rules": [{"match": {"script": "long"}, "duration_s": 100_000}]}, source="test"
    )
    sim = await sim_factory(machines=12, profile=dataclasses.replace(FAST.profile, agent=agent))
    told, untold, stopped = [m for m in sim.machines if m.status == "Connected"
                             and m.agent_version.startswith("1.4")][:3]  # fmt: skip
    async with aiohttp.ClientSession(headers=AUTH) as session:
        for m in (told, untold):
            async with session.put(rc_url(sim, m, "x"), json=body()) as r:
                assert r.status == 201
            await finished(sim, m, "x")
        async with session.get(rc_url(sim, told, "x")) as r:
            assert (await r.json())["properties"]["instanceView"]["executionState"] == "Succeeded"
        async with session.put(rc_url(sim, stopped, "x"), json=body("long")) as r:
            assert r.status == 201  # runs for 100,000 simulated seconds: stopped by the DELETE
        executions = [sim.state.get(m, "x").execution for m in (told, untold, stopped)]  # type: ignore[union-attr]
        for m in (told, untold, stopped):
            async with session.delete(rc_url(sim, m, "x")) as r:
                assert r.status in (200, 202, 204)
        for execution in executions:
            assert execution is not None
            await asyncio.wait_for(execution.finished.wait(), 120)  # a hang guard only
        async with session.get(f"{sim.arm_endpoint}/_sim/truth") as r:
            truth = await r.json()
    runs = {name: truth["machines"][m.resource_id.lower()][0]
            for name, m in (("told", told), ("untold", untold), ("stopped", stopped))}  # fmt: skip
    assert runs["told"]["end_reported"] is True
    assert runs["untold"]["end_reported"] is False  # ended, but no answer said so before DELETE
    assert runs["untold"]["execution_state"] == "Succeeded"
    assert runs["stopped"]["execution_state"] == "Canceled" and not runs["stopped"]["end_reported"]

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text)

    for name in ("told", "untold"):
        run = runs[name]
        assert at(run["start_time"]) <= at(run["end_time"]) <= at(run["stop_requested_at"])
    assert at(runs["stopped"]["stop_requested_at"]) <= at(runs["stopped"]["end_time"])


async def test_truth_records_stuck_and_unreachable(sim_factory: SimFactory) -> None:
    profile = dataclasses.replace(
        FAST.profile,
        faults=Faults(stuck_rate=1.0),
        overrides=(MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0"),),
    )
    sim = await sim_factory(machines=2, profile=profile)
    stuck_m = sim.machines[0]
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.put(rc_url(sim, stuck_m, "s"), json=body()) as r:
            assert r.status == 201
    launches = sim.state.launches
    assert [(x.kind, x.execution) for x in launches] == [("stuck", None)]

    unreachable = dataclasses.replace(
        FAST.profile, overrides=(MachineOverride(name_glob="*", status="Disconnected"),)
    )
    sim2 = await sim_factory(machines=1, profile=unreachable)
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.put(rc_url(sim2, sim2.machines[0], "u"), json=body()) as r:
            assert r.status in (201, 409)
    assert [x.kind for x in sim2.state.launches] == ["unreachable"]
    assert sim2.state.launches[0].reason == "MachineNotConnected"


def test_blob_latency_parses_and_rejects_negative() -> None:
    assert ap.parse_agent_profile({"blob_latency_s": 2}, source="p.yaml").blob_latency_s == 2.0
    with pytest.raises(InputError, match="blob_latency_s"):
        ap.parse_agent_profile({"blob_latency_s": -1}, source="p.yaml")


async def test_blob_writer_waits_before_each_request() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with aiohttp.ClientSession() as session:
        # Port 9 on loopback: nothing listens, so each request fails fast after the wait.
        writer = AppendBlobWriter(
            session, "http://127.0.0.1:9/c/b?sig=x", label="output", block_bytes=4,
            delay_s=0.25, sleep=sleep, retry_backoff_s=(),
        )
        await writer.create()
    assert waits == [0.25]
    assert writer.failure is not None and "sig=x" not in writer.failure
