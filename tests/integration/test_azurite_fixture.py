"""The Azurite fixture itself: a real append blob round trip through a blob-scoped SAS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from fleet_sim.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite


async def test_append_blob_through_sas(azurite: Azurite) -> None:
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.create_container("fixture-check")
    sas = generate_blob_sas(
        AZURITE_ACCOUNT,
        "fixture-check",
        "out.txt",
        account_key=AZURITE_KEY,
        permission=BlobSasPermissions(read=True, add=True, create=True, write=True),
        expiry=datetime.now(UTC) + timedelta(minutes=5),
    )
    url = f"{azurite.blob_endpoint}/fixture-check/out.txt?{sas}"
    async with BlobClient.from_blob_url(url) as blob:
        await blob.create_append_blob()
        await blob.append_block(b"hello ")
        await blob.append_block(b"world")
        data = await (await blob.download_blob()).readall()
    assert data == b"hello world"
