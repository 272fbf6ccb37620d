"""Shared helpers for the agent tests: SAS URLs on the session Azurite, requests, blob reads."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from fleet_sim.agent import ExecutionRequest
from fleet_sim.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite


@dataclass(frozen=True, slots=True)
class Store:
    azurite: Azurite
    container: str

    def sas_url(self, blob: str, permission: BlobSasPermissions | None = None) -> str:
        sas = generate_blob_sas(
            AZURITE_ACCOUNT,
            self.container,
            blob,
            account_key=AZURITE_KEY,
            permission=permission
            or BlobSasPermissions(read=True, add=True, create=True, write=True),
            expiry=datetime.now(UTC) + timedelta(minutes=30),
        )
        return f"{self.azurite.blob_endpoint}/{self.container}/{blob}?{sas}"

    async def read(self, blob: str) -> bytes:
        async with BlobClient.from_blob_url(self.sas_url(blob)) as client:
            return await (await client.download_blob()).readall()

    async def properties(self, blob: str) -> Mapping[str, object]:
        async with BlobClient.from_blob_url(self.sas_url(blob)) as client:
            props = await client.get_blob_properties()
        return {
            "blob_type": str(props.blob_type),
            "committed_blocks": props.append_blob_committed_block_count,
        }

    async def put_text(self, blob: str, text: str) -> None:
        async with BlobClient.from_blob_url(self.sas_url(blob)) as client:
            await client.upload_blob(text.encode(), overwrite=True)


async def new_store(azurite: Azurite, prefix: str) -> Store:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.create_container(name)
    return Store(azurite, name)


def request(
    name: str = "web-01",
    *,
    os_type: str = "linux",
    tags: Mapping[str, str] | None = None,
    script: str | None = "#!/bin/bash\necho hello",
    script_uri: str | None = None,
    command_id: str | None = None,
    parameters: tuple[tuple[str, str], ...] = (),
    protected: tuple[tuple[str, str], ...] = (),
    run_as_user: str | None = None,
    run_as_password: str | None = None,
    timeout_s: int | None = 600,
    out: str | None = None,
    err: str | None = None,
) -> ExecutionRequest:
    return ExecutionRequest(
        machine_id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{name}",
        machine_name=name,
        os_type=os_type,
        tags=tags or {},
        script=script,
        script_uri=script_uri,
        command_id=command_id,
        parameters=parameters,
        protected_parameters=protected,
        run_as_user=run_as_user,
        run_as_password=run_as_password,
        timeout_s=timeout_s,
        output_blob_uri=out,
        error_blob_uri=err,
    )
