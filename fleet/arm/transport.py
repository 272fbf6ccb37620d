"""The one HTTP seam: a ``Transport`` protocol and its aiohttp implementation.

This is the only module importing aiohttp's client. It knows nothing of ARM: it sends one
request and returns status, headers and the whole body, or raises :class:`TransportFailure`
saying whether the request may have reached the server (which decides whether a PUT may be
repeated blindly).
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from fleet.errors import TransportError, UsageError
from fleet.redact import redact_text, redact_url

__all__ = [
    "TLS_READ_BUFFER_BYTES",
    "AiohttpTransport",
    "Transport",
    "TransportFailure",
    "TransportResponse",
    "bound_tls_read_buffer",
    "make_transport",
]

# asyncio gives every TLS connection a read buffer of ``SSLProtocol.max_size`` (256 KiB) and
# zero-fills it at once, so all of it is resident for the connection's life: with the ARM
# pool's 100 connections and the blob client's, ~30 MiB of a 10,000-machine run. ARM's answers
# are a few KB and a TLS record at most 16 KiB, so a 32 KiB read loses nothing that matters
# (docs/readme/performance.md has the before/after). uvloop has its own, lazily touched buffer.
TLS_READ_BUFFER_BYTES = 32 * 1024


class TransportFailure(TransportError):
    """No HTTP answer. ``maybe_sent``: the server may have received (and acted on) the request.

    ``retryable`` is False for failures that repeating cannot fix (TLS verification, bad URL).
    """

    def __init__(self, message: str, *, maybe_sent: bool, retryable: bool = True) -> None:
        self.maybe_sent = maybe_sent
        self.retryable = retryable
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class TransportResponse:
    """A complete HTTP answer. Header names are lower-cased."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Transport(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout_s: float,
    ) -> TransportResponse: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One ``aiohttp.ClientSession`` (created on first use, inside the running loop)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, limit: int = 100) -> None:
        self._ssl_context = ssl_context
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, ssl=self._ssl_context if self._ssl_context else True
            )
            # No proxies or netrc from the environment: a token must go only where we point it.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
            # aiohttp silently resends "idempotent" methods, PUT included, once when the
            # connection drops. A run-command PUT *starts a script*: resending it blindly is
            # exactly what the client's GET-before-re-PUT rule exists to prevent. There is no
            # public switch; aiohttp's own TestClient flips the same attribute.
            self._session._retry_connection = False
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout_s: float,
    ) -> TransportResponse:
        session = self._get_session()
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 10.0))
        try:
            # Redirects are not followed: ARM does not redirect, and following one would
            # carry the Authorization header to wherever it points.
            async with session.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                return TransportResponse(
                    status=response.status,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    body=payload,
                )
        except Exception as error:
            raise _translate(error, method, url) from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _translate(error: Exception, method: str, url: str) -> Exception:
    """Map aiohttp/OS errors to TransportFailure; anything else passes through unchanged."""
    where = f"{method} {redact_url(url)}"
    detail = redact_text(" ".join(str(error).split())) or type(error).__name__
    if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return TransportFailure(
            f"TLS failure on {where}: {detail} (use --ca-file for a private CA)",
            maybe_sent=False,
            retryable=False,
        )
    if isinstance(error, aiohttp.InvalidURL):
        return TransportFailure(f"invalid URL {where}", maybe_sent=False, retryable=False)
    # Connection never established: the server cannot have seen the request.
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return TransportFailure(f"cannot connect for {where}: {detail}", maybe_sent=False)
    # From here on the request may have been written before things went wrong.
    if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return TransportFailure(f"timeout on {where}", maybe_sent=True)
    if isinstance(error, aiohttp.ClientError | OSError):
        return TransportFailure(
            f"connection lost on {where}: {type(error).__name__} {detail}", maybe_sent=True
        )
    return error


def bound_tls_read_buffer(size_bytes: int = TLS_READ_BUFFER_BYTES) -> None:
    """Cap the read buffer of asyncio's TLS connections opened from now on in this process
    (the ARM transport's and the blob client's alike). Only ever lowers it."""
    if sslproto.SSLProtocol.max_size > size_bytes:
        sslproto.SSLProtocol.max_size = size_bytes


def make_transport(*, ca_file: str | None, endpoint: str, limit: int = 100) -> AiohttpTransport:
    """A transport for ``endpoint``; ``ca_file`` adds a private CA (the simulator's) to trust.
    TLS connections opened after this read through a bounded buffer (``bound_tls_read_buffer``)."""
    bound_tls_read_buffer()
    context: ssl.SSLContext | None = None
    if ca_file and endpoint.lower().startswith("https:"):
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as error:
            raise UsageError(
                f"--ca-file {ca_file}: cannot load it as PEM certificates: {error}"
            ) from error
    return AiohttpTransport(ssl_context=context, limit=limit)
