"""Run-wide causes, found before any machine is touched: a secret that cannot be resolved,
ARM that cannot be reached (wrong endpoint, plain HTTP against TLS, an untrusted certificate),
a credential ARM refuses (401/403), storage that does not answer or refuses.

Each would otherwise show up as the same failure on every machine, after minutes of retries.
Here each is one short probe with a short retry budget, and the run stops with
``RunWideError``: one line naming the cause and the fix, exit code 9, nothing sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from fleet.errors import (
    AuthError,
    FleetError,
    NotFoundError,
    RunWideError,
    SecretError,
    StorageError,
    TransportError,
)
from fleet.plan.model import Job, Plan
from fleet.types import SecretRef

if TYPE_CHECKING:
    from fleet.arm.protocol import MachineReader
    from fleet.arm.retry import RetryPolicy
    from fleet.arm.transport import Transport
    from fleet.blobs.protocol import RunStore
    from fleet.clock import Clock

__all__ = [
    "PROBE_TIMEOUT_S",
    "check_arm",
    "check_run_wide",
    "check_secrets",
    "check_storage",
    "probe_retry",
    "secret_problems",
]

PROBE_TIMEOUT_S = 10.0  # each probe (ARM, storage) gives up after this long: a cause, not a blip


def probe_retry() -> RetryPolicy:
    from fleet.arm.retry import RetryPolicy

    # Two attempts: a blip is retried once; a cause answers the same way twice.
    return RetryPolicy(max_attempts=2, initial_backoff_s=0.5, deadline_s=PROBE_TIMEOUT_S,
                       request_timeout_s=PROBE_TIMEOUT_S)


def _refs(jobs: Iterable[Job]) -> list[SecretRef]:
    seen: dict[tuple[str, str], SecretRef] = {}
    for job in jobs:
        refs = [ref for _name, ref in job.protected_parameters]
        if job.run_as_password is not None:
            refs.append(job.run_as_password)
        for ref in refs:
            seen.setdefault((ref.scheme, ref.ref), ref)
    return list(seen.values())


def secret_problems(plan: Plan, resolve: Callable[[SecretRef], str]) -> list[str]:
    """One line per secret reference of the plan that cannot be resolved now (never a value)."""
    problems = []
    for ref in _refs((*plan.jobs, *plan.rollback_jobs)):
        try:
            resolve(ref)
        except SecretError as error:
            problems.append(f"secret {ref.scheme}:{ref.ref} cannot be resolved: {error.message}")
    return problems


def check_secrets(plan: Plan, resolve: Callable[[SecretRef], str]) -> None:
    problems = secret_problems(plan, resolve)
    if problems:
        env = [p.split()[1].removeprefix("env:") for p in problems if " env:" in p]
        fix = f"export {env[0]}=… and run again" if env else "make it resolvable and run again"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RunWideError(f"{problems[0]}{more}; fix: {fix}")


async def check_arm(arm: MachineReader, plan: Plan, endpoint: str) -> None:
    """One harmless read (the first planned machine): ARM answers, the TLS chain is trusted,
    the credential is accepted. A 404 is fine (that machine's own problem, for preflight)."""
    machines = [m for wave in plan.waves for m in wave.machines]
    if not machines:
        return
    try:
        await asyncio.wait_for(arm.get_machine(machines[0]), PROBE_TIMEOUT_S)
    except NotFoundError:
        return
    except AuthError as error:
        raise RunWideError(
            f"ARM at {endpoint} refused the credential ({error.one_line()}); fix: sign in "
            "(az login, --credential) with an identity that may read and write run commands "
            "on these machines"
        ) from error
    except TransportError as error:
        text = error.one_line()
        if "TLS" in text:
            fix = "give the endpoint's CA with --ca-file (FLEET_CA_FILE)"
        elif endpoint.startswith("http:"):
            fix = "check --arm-endpoint (FLEET_ARM_ENDPOINT): is it https://?"
        else:
            fix = "check --arm-endpoint (FLEET_ARM_ENDPOINT) and the network"
        raise RunWideError(f"cannot reach ARM at {endpoint}: {text}; fix: {fix}") from error
    except TimeoutError as error:
        raise RunWideError(
            f"ARM at {endpoint} did not answer within {PROBE_TIMEOUT_S:.0f}s; fix: check "
            "--arm-endpoint (FLEET_ARM_ENDPOINT) and the network"
        ) from error


async def check_storage(storage: RunStore, where: str) -> None:
    """Create the run's container and sign one SAS link, quickly."""
    try:
        await asyncio.wait_for(storage.prepare(retries=1), PROBE_TIMEOUT_S)
        storage.blob_sas_url("probe", expires_at=_soon())
    except TimeoutError as error:
        raise RunWideError(
            f"storage at {where} did not answer within {PROBE_TIMEOUT_S:.0f}s; fix: check "
            "--storage-connection-string / --storage-account-url (or run without storage)"
        ) from error
    except (StorageError, FleetError) as error:
        text = error.one_line()
        refused = any(word in text for word in ("403", "401", "Authorization", "Authentication"))
        fix = ("check the account key, or the role Storage Blob Data Contributor for Entra sign-in"
               if refused else "check --storage-connection-string / --storage-account-url")
        raise RunWideError(f"storage at {where} is not usable: {text}; fix: {fix}") from error


def _soon() -> datetime:
    from datetime import UTC, timedelta

    return datetime.now(UTC) + timedelta(minutes=5)


class ArmEndpoint(Protocol):
    """What the ARM probe needs of the run's connection (``session.Connection``)."""

    @property
    def arm_endpoint(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def credential(self) -> str: ...
    @property
    def ca_file(self) -> str | None: ...


async def check_run_wide(
    plan: Plan,
    connection: ArmEndpoint,
    *,
    resolve: Callable[[SecretRef], str],
    open_storage: Callable[[], Awaitable[RunStore | None]],
    storage_where: str,
    clock: Clock | None,
    transport: Transport | None = None,
) -> None:
    """Every run-wide check, cheapest first; raises ``RunWideError`` on the first cause."""
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential
    from fleet.arm.transport import make_transport

    check_secrets(plan, resolve)
    credential = build_credential(
        connection.credential, endpoint=connection.arm_endpoint, ca_file=connection.ca_file
    )
    own_transport = transport is None
    arm = ArmClient(
        endpoint=connection.arm_endpoint,
        transport=transport or make_transport(ca_file=connection.ca_file, endpoint=connection.arm_endpoint),
        credential=credential,
        api_version=connection.api_version,
        clock=clock,
        retry=probe_retry(),
    )
    try:
        await check_arm(arm, plan, connection.arm_endpoint)
    finally:
        if own_transport:
            await arm.aclose()
        await credential.aclose()
    storage = await open_storage()
    if storage is not None:
        try:
            await check_storage(storage, storage_where)
        finally:
            await storage.aclose()
