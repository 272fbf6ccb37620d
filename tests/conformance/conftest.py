"""The ``target`` fixture: every conformance test runs on the simulator (always; CI) and on live
Azure (``pytest -m live tests/conformance`` with the FLEET_LIVE_* variables set)."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from fleet.arm.client import ArmClient
from fleet.arm.credentials import DevTokenProvider, build_credential
from fleet.arm.retry import RetryPolicy
from fleet.arm.transport import make_transport
from fleet.blobs import RunStorage
from fleet.types import MachineRef
from fleet_sim.agent_profile import parse_agent_profile
from fleet_sim.azurite import Azurite
from fleet_sim.config import Behaviour, MachineOverride, Profile, SimConfig, ThrottleSpec
from fleet_sim.server import SimServer
from tests.conformance.target import Machines, Observations, Target, live_env_missing

SIM_TIME_SCALE = 0.01  # one simulated second is 10 ms: the simulator's variant stays fast
# Linux scripts really run (bash) on the simulated agent, as on a real one; Windows is modelled.
SIM_AGENT = {"executor": "shell", "start_latency_s": 0.5}
SIM_OVERRIDES = (
    MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0"),
    MachineOverride(name_glob="*-0002", status="Disconnected"),
    MachineOverride(name_glob="*-0003", agent_version="1.20.0"),
)


def sim_profile(*, behaviour: Behaviour | None = None, throttle: ThrottleSpec | None = None) -> Profile:
    return Profile(
        behaviour=behaviour or Behaviour(),
        throttle=throttle or ThrottleSpec(),
        overrides=SIM_OVERRIDES,
        agent=parse_agent_profile(SIM_AGENT, source="conformance"),
    )


def quick_retries() -> Any:
    """The test's blob reads retry within seconds: the storage SDK's default waits 15 s, then
    18 s more, after one transient error (a busy Azurite), which outlasts what a test watches."""
    from azure.storage.blob.aio import ExponentialRetry

    return ExponentialRetry(initial_backoff=0.2, increment_base=2, retry_total=6)


def _ref(m: Any) -> MachineRef:
    return MachineRef(m.subscription_id, m.resource_group, m.name, m.location, m.os_type)


@asynccontextmanager
async def sim_target(azurite: Azurite, **profile: Any) -> AsyncIterator[Target]:
    """A simulator target; ``profile`` keywords (behaviour=, throttle=) pick alternatives."""
    config = SimConfig(machines=12, subscriptions=1, seed=1, time_scale=SIM_TIME_SCALE,
                       profile=sim_profile(**profile))  # fmt: skip
    async with SimServer(config) as sim:
        machines = [_ref(m) for m in sim.machines]
        by_suffix = {m.name.rsplit("-", 1)[1]: m for m in machines}
        usable = [m for m in machines if m not in (by_suffix["0002"], by_suffix["0003"])]
        linux = next(m for m in usable if m.os_type == "linux")
        windows = next(m for m in usable if m.os_type == "windows")
        storage = RunStorage.from_connection_string(
            azurite.connection_string, run_id=f"conformance-{uuid.uuid4().hex[:8]}"
        )
        await storage.prepare()
        from azure.storage.blob.aio import BlobServiceClient

        blobs = BlobServiceClient.from_connection_string(
            azurite.connection_string, retry_policy=quick_retries()
        )
        credential = DevTokenProvider()
        transport = make_transport(ca_file=sim.ca_file, endpoint=sim.arm_endpoint)
        arm = ArmClient(endpoint=sim.arm_endpoint, transport=transport, credential=credential,
                        retry=RetryPolicy(deadline_s=60))  # fmt: skip
        target = Target(
            name="sim", endpoint=sim.arm_endpoint, credential=credential, transport=transport,
            arm=arm, storage=storage, blobs=blobs, time_scale=SIM_TIME_SCALE, sim=sim,
            machines=Machines(linux=linux, windows=windows, disconnected=by_suffix["0002"],
                              old_agent=by_suffix["0003"]),
        )  # fmt: skip
        try:
            yield target
        finally:
            await target.cleanup()
            await arm.aclose()
            await blobs.close()
            await storage.aclose()


async def _drop_container(blobs: Any, container: str) -> None:
    from azure.core.exceptions import AzureError

    try:
        await blobs.delete_container(container)
    except AzureError:
        pass  # cleanup must not hide the test's own result


@asynccontextmanager
async def live_target() -> AsyncIterator[Target]:
    missing = live_env_missing()
    if missing:
        pytest.skip(f"live Azure: set {', '.join(missing)} (see docs/readme/live.md)")
    from azure.identity.aio import DefaultAzureCredential
    from azure.storage.blob.aio import BlobServiceClient

    env = os.environ
    endpoint = env.get("FLEET_LIVE_ARM_ENDPOINT", "https://management.azure.com").rstrip("/")
    credential = build_credential("default", endpoint=endpoint, ca_file=None)
    transport = make_transport(ca_file=None, endpoint=endpoint)
    arm = ArmClient(endpoint=endpoint, transport=transport, credential=credential)
    sub, rg = env["FLEET_LIVE_SUBSCRIPTION"], env["FLEET_LIVE_RESOURCE_GROUP"]

    async def machine(variable: str) -> MachineRef | None:
        name = env.get(variable)
        if not name:
            return None
        return (await arm.get_machine(MachineRef(sub, rg, name, "", ""))).ref

    linux = await machine("FLEET_LIVE_MACHINE")
    assert linux is not None
    account_url = f"https://{env['FLEET_LIVE_STORAGE_ACCOUNT']}.blob.core.windows.net"
    storage_credential = DefaultAzureCredential()
    storage = RunStorage.from_account_url(
        account_url, storage_credential, run_id=f"conformance-{uuid.uuid4().hex[:8]}"
    )
    await storage.prepare()
    blobs = BlobServiceClient(account_url, credential=storage_credential, retry_policy=quick_retries())
    target = Target(
        name="live", endpoint=endpoint, credential=credential, transport=transport, arm=arm,
        storage=storage, blobs=blobs, time_scale=1.0,
        machines=Machines(
            linux=linux, windows=await machine("FLEET_LIVE_WINDOWS_MACHINE"),
            disconnected=await machine("FLEET_LIVE_DISCONNECTED_MACHINE"),
            old_agent=await machine("FLEET_LIVE_OLD_AGENT_MACHINE"),
        ),
    )  # fmt: skip
    try:
        yield target
    finally:
        await target.cleanup()
        await _drop_container(blobs, storage.container)
        await arm.aclose()
        await credential.aclose()
        await blobs.close()
        await storage.aclose()
        await storage_credential.close()


@pytest.fixture(params=["sim", pytest.param("live", marks=pytest.mark.live)])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "sim":
        azurite: Azurite = request.getfixturevalue("azurite")
        async with sim_target(azurite, behaviour=Behaviour(lro_retry_after_s=0)) as t:
            yield t
    else:
        async with live_target() as t:
            yield t


@asynccontextmanager
async def alternative(
    target: Target, request: pytest.FixtureRequest, **profile: Any
) -> AsyncIterator[Target]:
    """On the simulator, a fresh simulator configured with ``profile`` (the alternative a knob
    selects); on live Azure, the live target itself (there is only one reality)."""
    if target.name != "sim":
        yield target
        return
    async with sim_target(request.getfixturevalue("azurite"), **profile) as t:
        yield t


def behaviour(**kw: Any) -> Behaviour:
    return dataclasses.replace(Behaviour(lro_retry_after_s=0), **kw)


@pytest.fixture
def obs(request: pytest.FixtureRequest) -> Iterator[Observations]:
    """What the test observed, printed at its end (``pytest -rP`` or ``-s`` shows it) and
    appended to ``$FLEET_CONFORMANCE_OUT`` when set: paste it into a simulator profile."""
    test = request.node.originalname
    name = "live" if "[live" in request.node.nodeid else "sim"
    found = Observations(test=test, target=name)
    yield found
    text = found.render()
    print(text)
    out = os.environ.get("FLEET_CONFORMANCE_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(text + "\n\n")
