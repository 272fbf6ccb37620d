"""Where bearer tokens come from, and where they may be sent.

``build_credential`` turns the ``--credential`` name into a :class:`TokenProvider`. Tokens
are cached until shortly before they expire and refreshed on demand (the client asks for a
fresh one after a 401, since a token can expire mid-run). The ``dev`` credential is a fixed
token for the simulator and is refused for anything but a loopback endpoint; no credential
is ever allowed to travel over plain HTTP to a non-loopback host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from fleet.clock import Clock, MonotonicClock
from fleet.endpoints import ARM_ENDPOINT
from fleet.errors import AuthError, InsecureEndpointError, UsageError
from fleet.redact import redact_text

__all__ = [
    "CREDENTIAL_NAMES",
    "DEV_TOKEN",
    "AzureTokenProvider",
    "DevTokenProvider",
    "TokenProvider",
    "build_credential",
    "check_endpoint",
    "is_loopback_url",
    "scope_for",
]

CREDENTIAL_NAMES = ("default", "cli", "managed-identity", "environment", "dev")
DEV_TOKEN = "fleet-dev-token"  # what `fleet sim` accepts; worthless anywhere else


class TokenProvider(Protocol):
    """A source of bearer tokens for one scope. ``loopback_only``: refuse real endpoints."""

    @property
    def loopback_only(self) -> bool: ...

    async def get_token(self, *, force_refresh: bool = False) -> str: ...

    async def aclose(self) -> None: ...


class _AsyncCredential(Protocol):
    """The part of azure-core's ``AsyncTokenCredential`` we use."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...

    async def close(self) -> None: ...


class DevTokenProvider:
    """A fixed token, for the simulator on loopback only.

    A forced refresh (after a 401) mints a new token, ``<token>~<nonce>.<n>``, as a real
    credential would: the simulator's expiry fault (``token_lifetime_s``) ages each token from
    when it first saw it, so handing back the same string would fail forever. The nonce is per
    provider, so that a second process (``fleet resume`` after a crash) never mints a token the
    first one already wore out.
    """

    def __init__(self, token: str = DEV_TOKEN) -> None:
        self._base = token
        self._token = token
        self._nonce = secrets.token_hex(4)
        self.refreshes = 0

    @property
    def loopback_only(self) -> bool:
        return True

    async def get_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
            self._token = f"{self._base}~{self._nonce}.{self.refreshes}"
        return self._token

    async def aclose(self) -> None:
        return None


class AzureTokenProvider:
    """Wraps an azure-identity async credential: caches the token until ``refresh_margin_s``
    before expiry, fetches at most one token at a time, and maps failures to AuthError."""

    def __init__(
        self,
        credential: _AsyncCredential,
        *,
        scope: str,
        label: str = "credential",
        refresh_margin_s: float = 300.0,
        clock: Clock | None = None,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._label = label
        self._margin_s = refresh_margin_s
        self._clock = clock or MonotonicClock()
        self._wall_time = wall_time
        self._token: str | None = None
        self._fresh_until = 0.0  # on self._clock's scale
        self._lock = asyncio.Lock()

    @property
    def loopback_only(self) -> bool:
        return False

    async def get_token(self, *, force_refresh: bool = False) -> str:
        async with self._lock:
            if force_refresh:
                self._token = None
            if self._token is not None and self._clock.now() < self._fresh_until:
                return self._token
            try:
                access = await self._credential.get_token(self._scope)
            except Exception as error:  # azure-identity raises several unrelated types
                detail = redact_text(" ".join(str(error).split()))[:500]
                raise AuthError(
                    f"cannot get a token for {self._scope} with the {self._label} credential: "
                    f"{detail}"
                ) from error
            token = str(access.token)
            # expires_on is wall-clock epoch seconds; convert to a lifetime on our clock.
            lifetime_s = float(access.expires_on) - self._wall_time()
            self._token = token
            self._fresh_until = self._clock.now() + max(0.0, lifetime_s - self._margin_s)
            return token

    async def aclose(self) -> None:
        await self._credential.close()


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str) -> None:
    """Refuse endpoints a bearer token must not go to, before any request is made."""
    try:
        parts = urlsplit(endpoint)
        _ = parts.port
    except ValueError as error:
        raise UsageError(f"--arm-endpoint {endpoint!r} is not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--arm-endpoint {endpoint!r} must be an http(s) URL such as {ARM_ENDPOINT}"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("--arm-endpoint must not contain user info, a query or a fragment")
    if parts.scheme == "http" and not is_loopback_url(endpoint):
        raise InsecureEndpointError(
            f"refusing to send a bearer token over plain HTTP to {parts.hostname}: "
            "use https (plain http is allowed only for loopback addresses)"
        )


def scope_for(endpoint: str) -> str:
    """The token scope for an ARM endpoint: ``<scheme>://<host>/.default``."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}/.default"


def build_credential(name: str, *, endpoint: str, ca_file: str | None) -> TokenProvider:
    """The token provider for ``--credential NAME`` against ``endpoint``.

    ``ca_file`` concerns the ARM endpoint only (the transport trusts it); identity endpoints
    keep the system trust store, so a private CA never weakens sign-in.
    """
    del ca_file
    check_endpoint(endpoint)
    if name == "dev":
        if not is_loopback_url(endpoint):
            raise InsecureEndpointError(
                "the dev credential is a fixed token for the simulator and is accepted only "
                f"for a loopback endpoint, not {urlsplit(endpoint).hostname}"
            )
        return DevTokenProvider()
    if name not in CREDENTIAL_NAMES:
        raise UsageError(f"--credential {name!r} is not one of: {', '.join(CREDENTIAL_NAMES)}")
    from azure.identity import aio as identity  # imported late: slow, and unused with dev

    factories: dict[str, Callable[[], _AsyncCredential]] = {
        "default": identity.DefaultAzureCredential,
        "cli": identity.AzureCliCredential,
        "managed-identity": identity.ManagedIdentityCredential,
        "environment": identity.EnvironmentCredential,
    }
    return AzureTokenProvider(factories[name](), scope=scope_for(endpoint), label=name)
