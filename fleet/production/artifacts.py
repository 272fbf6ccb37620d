"""A production run's artifacts in its storage account, beside the outputs: the container the
run's output blobs live in (``fleet.blobs.container_name``) also holds, under ``fleet/``, the
plan, each shard's per-machine rows, and the reports. Workers write what they produce; the
workflow history only names these blobs."""

from __future__ import annotations

from typing import Any

from fleet.blobs import container_name
from fleet.errors import StorageError, UsageError

__all__ = ["PLAN_BLOB", "REPORT_PREFIX", "ArtifactStore", "shard_blob"]

PLAN_BLOB = "fleet/plan.json"
REPORT_PREFIX = "fleet/report/"
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024  # a plan of 100,000 jobs is far below this


def shard_blob(shard_id: str) -> str:
    return f"fleet/shards/{shard_id}.json"


class ArtifactStore:
    """One run's ``fleet/`` artifacts. ``async with ArtifactStore.open(...) as store``."""

    def __init__(self, service: Any, run_id: str, credential: Any = None) -> None:
        self._service = service
        self._credential = credential
        self.container = container_name(run_id)

    @classmethod
    def open(cls, *, run_id: str, connection_string: str | None, account_url: str | None) -> ArtifactStore:
        from azure.storage.blob.aio import BlobServiceClient

        if connection_string:
            return cls(BlobServiceClient.from_connection_string(connection_string), run_id)
        if account_url:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential()
            return cls(BlobServiceClient(account_url, credential=credential), run_id, credential)
        raise UsageError("production mode keeps a run's plan, results and reports in a storage "
                         "account: give --storage-connection-string or --storage-account-url")

    async def __aenter__(self) -> ArtifactStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._service.close()
        if self._credential is not None:
            await self._credential.close()

    async def prepare(self) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            await self._service.create_container(self.container)
        except ResourceExistsError:
            pass
        except AzureError as error:
            raise StorageError(f"creating container {self.container}: {type(error).__name__}") from error

    async def put(self, name: str, data: bytes) -> None:
        from azure.core.exceptions import AzureError

        try:
            await self._service.get_blob_client(self.container, name).upload_blob(data, overwrite=True)
        except AzureError as error:
            raise StorageError(f"writing {self.container}/{name}: {type(error).__name__}") from error

    async def get(self, name: str) -> bytes | None:
        """The blob's bytes, or None if it does not exist."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        blob = self._service.get_blob_client(self.container, name)
        try:
            stream = await blob.download_blob()
            if (stream.size or 0) > MAX_ARTIFACT_BYTES:
                raise StorageError(f"{self.container}/{name}: larger than {MAX_ARTIFACT_BYTES} bytes")
            data: bytes = await stream.readall()
            return data
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageError(f"reading {self.container}/{name}: {type(error).__name__}") from error

    async def names(self, prefix: str) -> list[str]:
        from azure.core.exceptions import AzureError

        container = self._service.get_container_client(self.container)
        try:
            return [blob.name async for blob in container.list_blobs(name_starts_with=prefix)]
        except AzureError as error:
            raise StorageError(f"listing {self.container}/{prefix}: {type(error).__name__}") from error
