"""How to reach Temporal: address, namespace, task queue, TLS / mTLS, API key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.errors import UsageError
from fleet.production.model import DEFAULT_TASK_QUEUE

__all__ = ["TemporalTarget", "connect"]


@dataclass(frozen=True, slots=True)
class TemporalTarget:
    address: str
    namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    api_key: str | None = None  # Temporal Cloud; implies TLS


async def connect(target: TemporalTarget) -> Any:
    """A connected ``temporalio.client.Client`` (one line and exit 2 when unreachable)."""
    from temporalio.client import Client
    from temporalio.service import TLSConfig

    tls: Any = False
    if target.tls or target.api_key or target.tls_cert_file or target.tls_ca_file:
        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        tls = TLSConfig(server_root_ca_cert=read(target.tls_ca_file),
                        client_cert=read(target.tls_cert_file),
                        client_private_key=read(target.tls_key_file))
    try:
        return await Client.connect(target.address, namespace=target.namespace, tls=tls,
                                    api_key=target.api_key)
    except RuntimeError as error:
        message = " ".join(str(error).split())[:300]
        raise UsageError(f"--temporal {target.address}: cannot connect ({message})") from None
