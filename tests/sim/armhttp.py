"""Small helpers for talking to the simulator over real HTTP in tests."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from fleet_sim.fleetgen import SimMachine
from fleet_sim.server import SimServer

API = "2025-01-13"
AUTH = {"Authorization": "Bearer test-token-1"}


def machine_url(sim: SimServer, m: SimMachine) -> str:
    return (
        f"{sim.arm_endpoint}/subscriptions/{m.subscription_id}/resourceGroups/{m.resource_group}"
        f"/providers/Microsoft.HybridCompute/machines/{m.name}"
    )


def rc_url(sim: SimServer, m: SimMachine, name: str, api: str = API) -> str:
    return f"{machine_url(sim, m)}/runCommands/{name}?api-version={api}"


def body(script: str = "echo hi", **props: Any) -> dict[str, Any]:
    return {"location": "eastus", "properties": {"source": {"script": script}, **props}}


def connected(sim: SimServer) -> SimMachine:
    return next(
        m for m in sim.machines if m.status == "Connected" and m.agent_version.startswith("1.4")
    )


async def finished(sim: SimServer, m: SimMachine, name: str, timeout_s: float = 120) -> None:
    """Wait for the agent's execution of a run command to end (an event, not a sleep; the
    timeout is only a hang guard)."""
    rc = sim.state.get(m, name)
    assert rc is not None and rc.execution is not None
    async with asyncio.timeout(timeout_s):
        await rc.execution.finished.wait()


async def poll_operation(
    session: aiohttp.ClientSession, url: str, limit: int = 2000
) -> dict[str, Any]:
    """Follow an Azure-AsyncOperation URL to a terminal status, yielding to the loop between polls."""
    for _ in range(limit):
        async with session.get(url) as response:
            assert response.status == 200, await response.text()
            status: dict[str, Any] = await response.json()
        if status["status"] != "InProgress":
            return status
        await asyncio.sleep(0.005)
    raise AssertionError("operation did not end")
