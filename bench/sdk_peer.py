"""The SDK peer: what a user would write with the official SDKs instead of fleet.

``azure-mgmt-hybridcompute`` (async) ``begin_create_or_update`` + ``await poller.result()`` per
machine under an ``asyncio.Semaphore`` of the same concurrency as fleet's, the output and error
going to append blobs by SAS (as Arc requires), then ``azure-storage-blob`` downloads each
output. Polling is the SDK's default, or ``--polling-interval`` seconds (the service's LRO
``Retry-After`` overrides it either way: the simulator sends 1 s; real ARM's value is not
confirmed). No delete: the SDK's docs do not show one after a run (less work than fleet).

Retries: azure-core's defaults give up after 3 retried statuses (``retry_status``), so under a
burst of 429s the default peer abandons most machines. A careful engineer raises
``retry_total`` and ``retry_status`` (``--retry 20``) and chooses a concurrency: that is the peer
the README compares with (contender ``sdk-careful-c<C>``).

Writes one JSON object with what it collected to ``--result``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from azure.mgmt.hybridcompute.aio import HybridComputeManagementClient
from azure.mgmt.hybridcompute.models import MachineRunCommand, MachineRunCommandScriptSource
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

SCRIPT = 'echo "fleet bench on $(hostname)"\n'


class StaticToken:
    """An AsyncTokenCredential with a fixed token (the simulator accepts any bearer token)."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("sdk-peer-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


def _conn_parts(connection_string: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    machines: list[dict[str, str]] = json.loads(Path(args.machines).read_text())
    parts = _conn_parts(args.storage)
    account, key = parts["AccountName"], parts["AccountKey"]
    blob_kwargs: dict[str, Any] = {}
    if args.retry is not None:
        blob_kwargs.update(retry_total=args.retry)
    blobs = BlobServiceClient.from_connection_string(args.storage, **blob_kwargs)
    container_name = f"sdkpeer-{int(time.time())}"
    container = blobs.get_container_client(container_name)
    await container.create_container()
    client_kwargs: dict[str, Any] = {}
    if args.retry is not None:  # azure-core's RetryPolicy knobs, as a careful user sets them
        client_kwargs.update(retry_total=args.retry, retry_status=args.retry,
                             retry_connect=args.retry, retry_read=args.retry)
    if args.polling_interval is not None:
        client_kwargs["polling_interval"] = args.polling_interval
    subscription = machines[0]["subscription_id"]
    client = HybridComputeManagementClient(
        StaticToken(),
        subscription,
        base_url=args.arm_endpoint,
        api_version="2025-01-13",
        connection_verify=args.ca_file,
        **client_kwargs,
    )
    semaphore = asyncio.Semaphore(args.concurrency)
    expiry = datetime.now(UTC) + timedelta(hours=6)
    collected = 0
    failed: dict[str, int] = {}
    first_error: dict[str, str] = {}

    def sas_url(blob: str) -> str:
        token = generate_blob_sas(
            account, container_name, blob, account_key=key, expiry=expiry,
            permission=BlobSasPermissions(read=True, add=True, create=True, write=True),
        )  # fmt: skip
        return f"{container.url}/{blob}?{token}"

    async def one(m: dict[str, str]) -> None:
        nonlocal collected
        out, err = f"{m['name']}.out", f"{m['name']}.err"
        async with semaphore:
            try:
                poller = await client.machine_run_commands.begin_create_or_update(
                    m["resource_group"],
                    m["name"],
                    "sdk-bench",
                    MachineRunCommand(  # type: ignore[call-overload]  # flattened kwargs, as the SDK docs show
                        location=m["location"],
                        source=MachineRunCommandScriptSource(script=SCRIPT),
                        timeout_in_seconds=600,
                        output_blob_uri=sas_url(out),
                        error_blob_uri=sas_url(err),
                    ),
                )
                result = await poller.result()
                downloader = await container.get_blob_client(out).download_blob()
                data = await downloader.readall()
            except Exception as error:  # a peer records failures and goes on, like fleet
                name = type(error).__name__
                failed[name] = failed.get(name, 0) + 1
                first_error.setdefault(name, str(error).splitlines()[0][:300])
                return
        state = result.instance_view.execution_state if result.instance_view else None
        if data and state == "Succeeded":
            collected += 1

    async with client, blobs:
        await asyncio.gather(*(one(m) for m in machines))
    return {
        "machines": len(machines),
        "collected": collected,
        "failed": failed,
        "first_error": first_error,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", required=True, help="JSON list of machines")
    parser.add_argument("--arm-endpoint", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--storage", required=True, help="storage connection string")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--polling-interval", type=float, default=None)
    parser.add_argument("--retry", type=int, default=None,
                        help="retry_total and retry_status for the SDK clients (default: azure-core's)")
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(main(args))
    result["makespan_s"] = time.monotonic() - started
    Path(args.result).write_text(json.dumps(result))


if __name__ == "__main__":
    cli()
