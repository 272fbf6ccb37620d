"""The official azure-mgmt-hybridcompute async client drives the simulator over HTTPS."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from tests.fixtures.sim import SimFactory
from tests.sim.armhttp import connected

hybridcompute = pytest.importorskip("azure.mgmt.hybridcompute.aio")
from azure.mgmt.hybridcompute.models import (  # noqa: E402 - after the importorskip
    MachineRunCommand,
    MachineRunCommandScriptSource,
    RunCommandInputParameter,
)


class StaticToken:
    """The smallest honest AsyncTokenCredential (ENV.md §5): never DefaultAzureCredential."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("sdk-test-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


@pytest.mark.parametrize("api_version", ["2024-11-10-preview", "2025-01-13"])
async def test_sdk_create_get_list_delete_and_machines(
    sim_factory: SimFactory, api_version: str
) -> None:
    sim = await sim_factory(tls=True, page_size=2)
    assert sim.arm_endpoint.startswith("https://") and sim.ca_file
    m = connected(sim)
    client = hybridcompute.HybridComputeManagementClient(
        StaticToken(),
        m.subscription_id,
        base_url=sim.arm_endpoint,
        api_version=api_version,
        connection_verify=sim.ca_file,
        polling_interval=0,
        retry_total=0,
    )
    async with client:
        ops = client.machine_run_commands
        for i in range(3):
            poller = await ops.begin_create_or_update(
                m.resource_group,
                m.name,
                f"sdk-{i}",
                MachineRunCommand(
                    location=m.location,
                    source=MachineRunCommandScriptSource(script="echo from sdk"),
                    parameters=[RunCommandInputParameter(name="a", value="b")],
                    run_as_password="not-echoed",
                    timeout_in_seconds=60,
                ),
            )
            result = await poller.result()
            assert result.provisioning_state == "Succeeded"
            assert result.instance_view.execution_state == "Succeeded"
            assert result.run_as_password is None
        got = await ops.get(m.resource_group, m.name, "sdk-1")
        assert got.name == "sdk-1" and got.instance_view.exit_code == 0
        names = [rc.name async for rc in ops.list(m.resource_group, m.name)]
        assert names == ["sdk-0", "sdk-1", "sdk-2"]  # three items over pages of two
        await (await ops.begin_delete(m.resource_group, m.name, "sdk-0")).result()
        names = [rc.name async for rc in ops.list(m.resource_group, m.name)]
        assert names == ["sdk-1", "sdk-2"]
        machine = await client.machines.get(m.resource_group, m.name)
        assert machine.status == "Connected" and machine.os_type == m.os_type
        in_sub = [x.name async for x in client.machines.list_by_subscription()]
        assert sorted(in_sub) == sorted(
            x.name for x in sim.machines if x.subscription_id == m.subscription_id
        )
        in_rg = [x.name async for x in client.machines.list_by_resource_group(m.resource_group)]
        assert m.name in in_rg
    stats = sim.stats()
    assert stats["executions"][m.resource_id] == 3
    assert stats["requests_by_operation"]["MachineRunCommands_Delete"] == 1
