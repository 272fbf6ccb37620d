"""``RunStorage``: one run's container, its SAS links, script upload and output download.

Built from a connection string with an account key (SAS signed with the key: service SAS) or
from an account URL and an azure-identity async credential (SAS signed with a user delegation
key fetched in ``prepare``). Every storage failure leaves as ``StorageError`` with SAS
signatures and keys redacted.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings, UserDelegationKey
from azure.storage.blob.aio import BlobClient, BlobServiceClient, ContainerClient

from fleet.arm.transport import Transport, make_transport
from fleet.blobs.fetch import READ_TIMEOUT_S, fetch_capped
from fleet.blobs.sas import (
    MAX_SAS_LIFETIME,
    READ_ONLY,
    RUN_COMMAND_RIGHTS,
    blob_sas_url,
    clamp_expiry,
    redact,
)
from fleet.errors import StorageError, UsageError
from fleet.types import StreamCapture

__all__ = ["RunStorage", "container_name"]

# use_env_settings=False: no proxy or netrc from the environment (as the ARM transport), and
# no thread hop per request to look them up (aiohttp does that off the loop: ~2 % of the
# client's CPU per blob GET at N = 2,000).
_CLIENT_OPTIONS: dict[str, Any] = {"use_env_settings": False}

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def container_name(run_id: str) -> str:
    """A valid container name for a run (3-63 chars of ``a-z0-9-``, no double dash),
    ``fleet-<run id>``; a run id too long or too odd keeps a hash suffix so it stays unique."""
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", run_id.lower())).strip("-")
    name = f"fleet-{slug}" if slug else "fleet-run"
    if len(name) > 63 or slug != run_id:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{digest}"
    return name


def _storage_error(action: str, error: Exception) -> StorageError:
    code = getattr(error, "error_code", None) or getattr(error, "status_code", None)
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    suffix = f" ({code})" if code else ""
    return StorageError(redact(f"{action} failed{suffix}: {detail}"))


class RunStorage:
    """One run's blob container. Use as ``async with`` (or call ``aclose``)."""

    def __init__(
        self,
        service: BlobServiceClient,
        *,
        run_id: str,
        account_key: str | None,
        credential: AsyncTokenCredential | None = None,
        clock: Clock = _utcnow,
        reads: Transport | None = None,
    ) -> None:
        self._service = service
        # Output reads: plain GETs through a connection pool of their own (made on first use).
        self._reads = reads
        self._account_key = account_key
        self._credential = credential
        self._clock = clock
        self._ud_key: UserDelegationKey | None = None
        # Reads of a finished run fetch the key on first use: concurrent first reads fetch it once.
        self._ud_key_lock = asyncio.Lock()
        self._ud_key_expiry: datetime | None = None
        self.run_id = run_id
        self.container = container_name(run_id)
        self._blobs: ContainerClient | None = None
        self.account_name: str = service.account_name or ""
        self.blob_endpoint: str = service.url.split("?")[0].rstrip("/")

    @classmethod
    def from_connection_string(
        cls, conn: str, *, run_id: str, clock: Clock = _utcnow
    ) -> RunStorage:
        try:
            service = BlobServiceClient.from_connection_string(conn, **_CLIENT_OPTIONS)
        except (ValueError, AzureError) as error:
            raise UsageError(
                f"--storage-connection-string is not a valid connection string: {redact(str(error))}"
            ) from error
        key = getattr(service.credential, "account_key", None)
        if not isinstance(key, str) or not key:
            raise UsageError(
                "--storage-connection-string must carry an AccountKey (fleet signs one SAS per blob); "
                "use --storage-account-url to sign in with Entra ID instead"
            )
        return cls(service, run_id=run_id, account_key=key, clock=clock)

    @classmethod
    def from_account_url(
        cls, url: str, credential: AsyncTokenCredential, *, run_id: str, clock: Clock = _utcnow
    ) -> RunStorage:
        try:
            service = BlobServiceClient(url, credential=credential, **_CLIENT_OPTIONS)
        except (ValueError, AzureError) as error:
            raise UsageError(f"--storage-account-url is not usable: {redact(str(error))}") from error
        return cls(service, run_id=run_id, account_key=None, credential=credential, clock=clock)

    async def __aenter__(self) -> RunStorage:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            if self._reads is not None:
                await self._reads.aclose()
                self._reads = None
        finally:
            await self._service.close()

    async def prepare(self, *, retries: int | None = None) -> None:
        """Create the run's container (idempotent); with Entra sign-in, fetch a user delegation
        key valid for ``MAX_SAS_LIFETIME`` (no SAS can outlive it). ``retries`` overrides the
        SDK's retry count (a quick probe: an account that does not answer is a cause, not a
        blip)."""
        options: dict[str, Any] = {} if retries is None else {"retry_total": retries}
        if self._account_key is None:
            await self._fetch_user_delegation_key(options)
        try:
            await self._service.create_container(self.container, **options)
        except ResourceExistsError:
            pass
        except AzureError as error:
            raise _storage_error(f"creating container {self.container}", error) from error

    async def _fetch_user_delegation_key(self, options: dict[str, Any]) -> None:
        now = self._clock()
        try:
            self._ud_key = await self._service.get_user_delegation_key(
                now - timedelta(minutes=5), now + MAX_SAS_LIFETIME, **options
            )
        except AzureError as error:
            raise _storage_error("getting a user delegation key", error) from error
        self._ud_key_expiry = now + MAX_SAS_LIFETIME

    def _blob(self, blob_name: str) -> BlobClient:
        """A client for one blob, from the run's one container client (made on first use)."""
        if self._blobs is None:
            self._blobs = self._service.get_container_client(self.container)
        return self._blobs.get_blob_client(blob_name)

    def _sign(self, blob_name: str, rights: str, expires_at: datetime) -> str:
        if self._account_key is None and self._ud_key is None:
            raise StorageError("storage is not prepared: call prepare() before asking for SAS links")
        expiry = clamp_expiry(expires_at, self._clock())
        if self._ud_key_expiry is not None and expiry > self._ud_key_expiry:
            expiry = self._ud_key_expiry
        return blob_sas_url(
            self.blob_endpoint,
            self.account_name,
            self.container,
            blob_name,
            rights=rights,
            expires_at=expiry,
            account_key=self._account_key,
            user_delegation_key=self._ud_key,
        )

    def blob_sas_url(self, blob_name: str, *, expires_at: datetime) -> str:
        """URL of ``blob_name`` with ``sp=racw``, ``sr=b``, for the agent's output/error blob.
        ``expires_at`` is clamped to [now + 15 min, now + 7 days]."""
        return self._sign(blob_name, RUN_COMMAND_RIGHTS, expires_at)

    async def upload_script(
        self, blob_name: str, text: str, *, expires_at: datetime, utf8_bom: bool = False
    ) -> str:
        """Upload a script (UTF-8; with a BOM if asked, which Windows PowerShell 5.1 needs to
        read non-ASCII) once, and return its URL with a read-only (``sp=r``) SAS."""
        data = (b"\xef\xbb\xbf" if utf8_bom else b"") + text.encode("utf-8")
        blob = self._blob(blob_name)
        try:
            await blob.upload_blob(
                data,
                overwrite=True,
                content_settings=ContentSettings(content_type="text/plain; charset=utf-8"),
            )
        except AzureError as error:
            raise _storage_error(f"uploading script {blob_name}", error) from error
        return self._sign(blob_name, READ_ONLY, expires_at)

    async def exists(self, blob_name: str) -> bool:
        """Whether ``blob_name`` exists: the agent creates an execution's output blob when it
        starts it, so an existing one witnesses that the execution started."""
        blob = self._blob(blob_name)
        try:
            await blob.get_blob_properties()
        except ResourceNotFoundError:
            return False
        except AzureError as error:
            raise _storage_error(f"reading blob {blob_name}", error) from error
        return True

    async def download(
        self,
        blob_name: str,
        dest: Path,
        *,
        max_bytes: int,
        relative_to: Path | None = None,
        timeout_s: float = READ_TIMEOUT_S,
    ) -> StreamCapture:
        """Download one output/error blob to ``dest``: keeping the last ``max_bytes``, sha256
        of the kept bytes. A missing blob is a size-0 capture with no file. The capture's
        ``path`` is relative to ``relative_to`` (the run folder) when given. Plain ranged GETs
        through the run's storage connection pool, each signed with a read-only SAS for this
        blob alone (``fleet.blobs.fetch``), not the SDK's pipeline."""
        if self._account_key is None and self._ud_key is None:
            async with self._ud_key_lock:  # reading a finished run: no container to make
                if self._ud_key is None:
                    await self._fetch_user_delegation_key({})
        if self._reads is None:
            self._reads = make_transport(ca_file=None, endpoint=self.blob_endpoint)

        def sign() -> str:
            return self._sign(blob_name, READ_ONLY, self._clock())  # clamped: 15 minutes

        return await fetch_capped(self._reads, sign, blob_name, dest, max_bytes=max_bytes,
                                  relative_to=relative_to, timeout_s=timeout_s)
