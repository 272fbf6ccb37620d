"""Where the conformance suite runs: the simulator (CI, every change) or real Azure (``-m live``).

A :class:`Target` gives a test the same handles on both: fleet's own transport and credential
for raw ARM requests (status codes and headers are part of the contract), fleet's ARM client,
fleet's run storage for SAS links, azure-storage-blob for reading the blobs, the machines to
use, and a clock that counts the target's seconds (simulated seconds on the simulator, so
every wait there is short).

Live needs (all from the environment)::

    FLEET_LIVE_SUBSCRIPTION       subscription id
    FLEET_LIVE_RESOURCE_GROUP     resource group of the machines
    FLEET_LIVE_MACHINE            a Connected Linux Arc machine (agent >= 1.33)
    FLEET_LIVE_STORAGE_ACCOUNT    storage account for output blobs (name)
  optional:
    FLEET_LIVE_WINDOWS_MACHINE    a Connected Windows Arc machine
    FLEET_LIVE_DISCONNECTED_MACHINE, FLEET_LIVE_OLD_AGENT_MACHINE  for the unreachable checks
    FLEET_LIVE_RUN_AS_USER, FLEET_LIVE_RUN_AS_PASSWORD             a local user on the Linux machine
    FLEET_LIVE_ARM_ENDPOINT       default https://management.azure.com

Credentials: azure-identity's DefaultAzureCredential (az login, environment, managed identity).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fleet.arm.client import DEFAULT_API_VERSION, ArmClient
from fleet.arm.credentials import TokenProvider
from fleet.arm.transport import Transport, TransportResponse
from fleet.blobs import RunStorage
from fleet.types import MachineRef

__all__ = ["LIVE_ENV", "Machines", "Observations", "Target", "live_env_missing"]

LIVE_ENV = (
    "FLEET_LIVE_SUBSCRIPTION",
    "FLEET_LIVE_RESOURCE_GROUP",
    "FLEET_LIVE_MACHINE",
    "FLEET_LIVE_STORAGE_ACCOUNT",
)
T = TypeVar("T")


def live_env_missing() -> list[str]:
    return [name for name in LIVE_ENV if not os.environ.get(name)]


@dataclass(frozen=True, slots=True)
class Machines:
    linux: MachineRef
    windows: MachineRef | None = None
    disconnected: MachineRef | None = None
    old_agent: MachineRef | None = None


@dataclass
class Observations:
    """What a test saw, printed as a block that pastes into a simulator profile (``fleet sim
    serve --profile FILE``: the keys of fleet_sim/config.py) plus comments for the rest."""

    test: str
    target: str
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def key(self, section: str, name: str, value: Any) -> None:
        self.profile.setdefault(section, {})[name] = value

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        import yaml

        lines = [f"# conformance: {self.test} on {self.target}"]
        lines += [f"# {n}" for n in self.notes]
        if self.profile:
            lines.append(yaml.safe_dump(self.profile, sort_keys=True).rstrip())
        return "\n".join(lines)


@dataclass
class Target:
    name: str  # "sim" or "live"
    endpoint: str
    credential: TokenProvider
    transport: Transport
    arm: ArmClient
    storage: RunStorage
    blobs: Any  # azure.storage.blob.aio.BlobServiceClient
    machines: Machines
    time_scale: float = 1.0  # wall seconds per target second
    sim: Any = None  # the SimServer on the simulator
    api_version: str = DEFAULT_API_VERSION
    created: list[tuple[MachineRef, str]] = field(default_factory=list)

    # ---- naming ---------------------------------------------------------------------------
    def new_name(self, what: str) -> str:
        """A fresh run command name (ARM allows 1-36 characters)."""
        return f"fc-{what[:12]}-{uuid.uuid4().hex[:8]}"

    # ---- raw ARM --------------------------------------------------------------------------
    def rc_url(self, m: MachineRef, name: str) -> str:
        return (
            f"{self.endpoint}/subscriptions/{m.subscription_id}/resourceGroups/{m.resource_group}"
            f"/providers/Microsoft.HybridCompute/machines/{m.name}/runCommands/{name}"
            f"?api-version={self.api_version}"
        )

    async def request(
        self, method: str, url: str, body: Mapping[str, Any] | None = None
    ) -> TransportResponse:
        """One ARM request through fleet's transport and credential (no retries: the test
        sees exactly what ARM answered)."""
        token = await self.credential.get_token()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        return await self.transport.request(
            method, url, headers=headers, body=payload, timeout_s=120
        )

    async def put(self, m: MachineRef, name: str, body: Mapping[str, Any]) -> TransportResponse:
        self.created.append((m, name))
        return await self.request("PUT", self.rc_url(m, name), body)

    async def patch(self, m: MachineRef, name: str, body: Mapping[str, Any]) -> TransportResponse:
        return await self.request("PATCH", self.rc_url(m, name), body)

    async def get(self, m: MachineRef, name: str) -> TransportResponse:
        return await self.request("GET", self.rc_url(m, name))

    async def delete(self, m: MachineRef, name: str) -> TransportResponse:
        return await self.request("DELETE", self.rc_url(m, name))

    async def view(self, m: MachineRef, name: str) -> dict[str, Any]:
        """The run command's body (GET, 200 expected)."""
        response = await self.get(m, name)
        assert response.status == 200, (response.status, response.body[:500])
        data: dict[str, Any] = json.loads(response.body)
        return data

    # ---- bodies ---------------------------------------------------------------------------
    def blob_urls(self, prefix: str) -> tuple[str, str, str, str]:
        """(output blob name, its SAS URL, error blob name, its SAS URL)."""
        expires = datetime.now(UTC) + timedelta(hours=1)
        out, err = f"{prefix}.out", f"{prefix}.err"
        return (out, self.storage.blob_sas_url(out, expires_at=expires),
                err, self.storage.blob_sas_url(err, expires_at=expires))  # fmt: skip

    def body(self, m: MachineRef, script: str, **props: Any) -> dict[str, Any]:
        return {
            "location": m.location,
            "properties": {"source": {"script": script}, "asyncExecution": False, **props},
        }

    async def read_blob(self, name: str) -> bytes | None:
        """A blob's bytes, or None if it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.blobs.get_blob_client(self.storage.container, name)
        try:
            downloader = await client.download_blob()
            data: bytes = await downloader.readall()
            return data
        except ResourceNotFoundError:
            return None

    # ---- time -----------------------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the target's time (simulated seconds on the simulator)."""
        await asyncio.sleep(seconds * self.time_scale)

    async def until(
        self,
        probe: Callable[[], Awaitable[T | None]],
        *,
        what: str,
        every_s: float = 2.0,
        timeout_s: float = 900.0,
        window: bool = False,
    ) -> T:
        """Poll ``probe`` every ``every_s`` target seconds until it returns a value. The bound
        is a hang guard only: ``timeout_s`` target seconds, and never under 120 s of wall time
        (a busy machine must not turn a slow simulator into a failure). With ``window`` it is
        the question itself ("does it happen within ``timeout_s`` target seconds?"): exactly
        that long, after at least one probe."""
        span = timeout_s * self.time_scale
        deadline = time.monotonic() + (span if window else max(120.0, span))
        while True:
            value = await probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: gave up waiting for {what}")
            await self.sleep(every_s)

    async def finished(self, m: MachineRef, name: str, *, timeout_s: float = 900.0) -> dict[str, Any]:
        """Poll the run command until its execution state is terminal; its body."""

        async def probe() -> dict[str, Any] | None:
            data = await self.view(m, name)
            state = instance_view(data).get("executionState")
            return data if state in ("Succeeded", "Failed", "TimedOut", "Canceled") else None

        return await self.until(probe, what=f"{name} to end", timeout_s=timeout_s)

    async def gone(self, m: MachineRef, name: str) -> None:
        async def probe() -> bool | None:
            return True if (await self.get(m, name)).status == 404 else None

        await self.until(probe, what=f"{name} to be deleted")

    async def cleanup(self) -> None:
        """Delete every run command a test created (404 is fine)."""
        for m, name in self.created:
            try:
                await self.delete(m, name)
            except Exception:  # cleanup must not hide the test's own failure
                continue
        self.created.clear()


def instance_view(body: Mapping[str, Any]) -> Mapping[str, Any]:
    props = body.get("properties") or {}
    view = props.get("instanceView") or {}
    assert isinstance(view, Mapping)
    return view
