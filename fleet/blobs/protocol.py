"""What the engine needs from a run's blob storage, as a Protocol (the engine's seam).
:class:`fleet.blobs.store.RunStorage` satisfies it structurally; so must any test fake."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from fleet.types import StreamCapture

__all__ = ["OutputStore", "RunStore"]


@runtime_checkable
class OutputStore(Protocol):
    """Links the agent writes a job's output to, the script it reads, and the download."""

    def blob_sas_url(self, blob_name: str, *, expires_at: datetime) -> str:
        """A SAS URL for the agent's output or error append blob (read/add/create/write)."""
        ...

    async def upload_script(self, blob_name: str, text: str, *, expires_at: datetime) -> str:
        """Upload a script and return its read-only SAS URL."""
        ...

    async def exists(self, blob_name: str) -> bool:
        """Whether the blob exists (an execution's output blob: the agent started it)."""
        ...

    async def download(
        self, blob_name: str, dest: Path, *, max_bytes: int, relative_to: Path | None = None,
        timeout_s: float = 60.0,
    ) -> StreamCapture:
        """Download one blob to ``dest``, keeping the last ``max_bytes``; a missing blob is an
        empty capture. The capture's path is relative to ``relative_to`` when given. Each
        request gives up after ``timeout_s`` (a ``StorageError``)."""
        ...


@runtime_checkable
class RunStore(OutputStore, Protocol):
    """A run's store as the session holds it: prepared once (container, signing key), closed
    at the end."""

    async def prepare(self, *, retries: int | None = None) -> None:
        """Create the run's container (idempotent) and get what signing needs."""
        ...

    async def aclose(self) -> None: ...
