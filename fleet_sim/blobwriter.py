"""Append-blob writes through a SAS URL over raw HTTP, as an Arc agent on a host would do them.

``PUT <sas>`` with ``x-ms-blob-type: AppendBlob`` creates the blob, or replaces an existing one
(so every execution overwrites the previous one's output), then ``PUT <sas>&comp=appendblock``
once per block of at most ``block_bytes``. No ``x-ms-version`` header: a SAS request without one
is served at the SAS's own version, and it keeps Azurite 3.35 from rejecting a newer version.

A write that gets no answer (other than an unknown host name) or a transient one (408, 429,
5xx) is retried with capped exponential backoff (``RETRY_BACKOFF_S``: 0.5 s doubling to 15 s,
then every 15 s, about two minutes of waiting in all), long enough to ride out a storage
emulator saturated by thousands of agents, since real Azure Storage, far from its account
limits at these rates, would not have refused the write. An append carries ``x-ms-blob-condition-appendpos`` (the blob's length this
writer expects), so a retried append whose first attempt did land is answered 412
``AppendPositionConditionNotMet`` and counted as written, never appended twice. A write that
still fails never raises: the writer records the first failure (HTTP status and storage error
code, the blob's path without its query string, so no ``sig=``), logs it once with the machine's
name and the stream, counts it (``/_sim/stats`` ``storage.failed``) and skips every later write;
the agent reports it in ``executionMessage``/``statuses`` while the script carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

__all__ = [
    "RETRY_BACKOFF_S",
    "AppendBlobWriter",
    "StorageCounters",
    "download_text",
    "redact_url",
]

# Wall seconds before each retry of a write that got no answer or a transient one: 11 retries,
# 106.5 s of waiting (each attempt may also wait up to the session's 60 s read timeout).
RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0)
_log = logging.getLogger(__name__)
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_APPENDPOS_NOT_MET = "AppendPositionConditionNotMet"


def redact_url(url: str) -> str:
    """``scheme://host/path`` without query or fragment: safe to show (a SAS lives in the query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _with_query(url: str, extra: str) -> URL:
    joined = f"{url}&{extra}" if "?" in url else f"{url}?{extra}"
    # encoded=True: the SAS is already percent-encoded; re-quoting would break the signature.
    return URL(joined, encoded=True)


async def _describe(response: aiohttp.ClientResponse) -> str:
    code = response.headers.get("x-ms-error-code", "")
    await response.read()  # drain so the connection can be reused
    return f"HTTP {response.status} {code}".strip()


class StorageCounters(Protocol):
    """Where a writer counts its requests (``fleet_sim.stats.SimStats``)."""

    def storage_event(self, event: str, *, count: int = 1) -> None: ...
    def storage_failure(self, stream: str) -> None: ...


class AppendBlobWriter:
    """Writes one stream of one execution to one append blob through its SAS URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        sas_url: str,
        *,
        label: str,
        block_bytes: int,
        simulated_failure: bool = False,
        delay_s: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry_backoff_s: tuple[float, ...] = RETRY_BACKOFF_S,
        machine: str = "",
        counters: StorageCounters | None = None,
    ) -> None:
        self._machine = machine
        self._counters = counters
        self._retry_backoff_s = retry_backoff_s
        self._offset = 0  # bytes this writer has appended: the next append's expected position
        self._delay_s = delay_s  # slow storage (profile blob_latency_s), in wall seconds
        self._sleep = sleep
        self._session = session
        self._url = sas_url
        self._label = label
        self._block_bytes = block_bytes
        self._simulated_failure = simulated_failure
        self.failure: str | None = None
        self.blocks_written = 0

    def _count(self, event: str) -> None:
        if self._counters is not None:
            self._counters.storage_event(event)

    def _fail(self, what: str, *, attempts: int = 0) -> None:
        if self.failure is not None:
            return
        self.failure = f"Failed to write {self._label} blob {redact_url(self._url)}: {what}"
        if attempts:  # a real write that failed, not a simulated one (profile blob_failure_rate)
            # Machine and stream only: the URL's query is a SAS, and the path adds nothing.
            _log.warning(
                "simulated agent on %s: %s blob write failed after %d attempt(s): %s",
                self._machine or "?", self._label, attempts, what,
            )
            if self._counters is not None:
                self._counters.storage_failure(self._label)

    async def _put(self, url: URL, *, headers: dict[str, str], data: bytes,
                   appended: bool = False) -> bool:
        """One write, retried on no answer or a transient status. ``appended``: an append
        whose condition not met on a retry means the previous attempt landed."""
        if self._delay_s > 0:
            await self._sleep(self._delay_s)
        waits = iter(self._retry_backoff_s)
        retry = False
        attempts = 0
        while True:
            attempts += 1
            try:
                async with self._session.put(url, headers=headers, data=data) as response:
                    if response.status in (200, 201):
                        await response.read()
                        return True
                    code = response.headers.get("x-ms-error-code", "")
                    if appended and retry and response.status == 412 and code == _APPENDPOS_NOT_MET:
                        await response.read()
                        self._count("landed_on_retry")
                        return True
                    what = await _describe(response)
                    transient = response.status in _TRANSIENT
            except (aiohttp.ClientError, TimeoutError) as error:
                # The exception text could quote the URL; keep only its kind. A storage host
                # whose name does not resolve is not busy: retrying it for minutes helps nobody.
                what = f"{type(error).__name__} (no HTTP answer)"
                transient = not isinstance(error, aiohttp.ClientConnectorDNSError)
            wait = next(waits, None) if transient else None
            if wait is None:
                self._fail(what, attempts=attempts)
                return False
            retry = True
            self._count("retries")
            await self._sleep(wait)

    async def create(self) -> None:
        """Create the append blob, replacing whatever was there."""
        if self._simulated_failure:
            self._fail("simulated failure (profile blob_failure_rate)")
            return
        self._count("creates")
        await self._put(
            URL(self._url, encoded=True),
            headers={"x-ms-blob-type": "AppendBlob", "Content-Length": "0"},
            data=b"",
        )

    async def append(self, data: bytes) -> None:
        """Append ``data`` in blocks of at most ``block_bytes``; no-op after a failure."""
        url = _with_query(self._url, "comp=appendblock")
        for start in range(0, len(data), self._block_bytes):
            if self.failure is not None:
                return
            block = data[start : start + self._block_bytes]
            headers = {"Content-Length": str(len(block)),
                       "x-ms-blob-condition-appendpos": str(self._offset)}
            self._count("appends")
            if await self._put(url, headers=headers, data=block, appended=True):
                self.blocks_written += 1
                self._offset += len(block)


async def download_text(session: aiohttp.ClientSession, url: str, *, max_bytes: int) -> str:
    """GET a script through its (read SAS or public) URI. Raises ``ValueError`` with a redacted
    message on any failure; the caller turns it into a Failed execution."""
    try:
        async with session.get(URL(url, encoded=True)) as response:
            if response.status != 200:
                raise ValueError(
                    f"Failed to download script {redact_url(url)}: {await _describe(response)}"
                )
            body = await response.content.read(max_bytes + 1)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise ValueError(
            f"Failed to download script {redact_url(url)}: {type(error).__name__} (no HTTP answer)"
        ) from None
    if len(body) > max_bytes:
        raise ValueError(
            f"Failed to download script {redact_url(url)}: larger than {max_bytes} bytes"
        )
    return body.decode("utf-8", errors="replace")
