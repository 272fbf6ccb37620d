"""What the layers above need from ARM, as small Protocols (the engine's and the inventory's
seams). :class:`fleet.arm.client.ArmClient` and :class:`fleet.arm.graph.GraphClient` satisfy
them structurally; tests may hand in any fake that does too, and mypy checks both.

Each Protocol is named for what its caller does with it, and holds only that:

- ``MachineReader`` -- preflight and the inventory's ``arm`` source read machines;
- ``RunCommands`` -- a job puts, polls and deletes its run command;
- ``AdaptiveLimit`` -- the rollout reads a subscription's current in-flight limit and caps it;
- ``ArmApi`` -- all of the above plus ``stats``/``aclose``: what one run holds;
- ``GraphQuery`` -- the inventory's Resource Graph source runs a query;
- ``ArmConnection`` -- where and how to reach ARM (``fleet.engine.session.Connection``).

The records crossing these seams are the frozen values of :mod:`fleet.arm.models`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from fleet.arm.models import ArmStats, MachineInfo, RunCommandView
from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import ArmLimits
from fleet.types import MachineRef

__all__ = [
    "AdaptiveLimit",
    "ArmApi",
    "ArmConnection",
    "GraphQuery",
    "MachineReader",
    "RunCommands",
]


@runtime_checkable
class AdaptiveLimit(Protocol):
    """How many jobs of one subscription ARM's throttling allows in flight now (AIMD),
    capped by the rollout."""

    @property
    def limit(self) -> int: ...

    def cap(self, ceiling: int) -> None: ...


@runtime_checkable
class MachineReader(Protocol):
    async def get_machine(self, m: MachineRef) -> MachineInfo:
        """The machine; ``NotFoundError`` on 404."""
        ...

    def list_machines(
        self, subscription_id: str, resource_group: str | None = None
    ) -> AsyncIterator[MachineInfo]:
        """Every machine of a subscription (or one resource group), all pages."""
        ...


@runtime_checkable
class RunCommands(Protocol):
    async def put_run_command(
        self,
        m: MachineRef,
        name: str,
        body: Mapping[str, Any],
        *,
        on_send: Callable[[], None] | None = None,
    ) -> RunCommandView:
        """Create (and so start) a run command, exactly once: an outcome the client cannot
        know is reconciled with a GET before anything is sent again. ``on_send`` is called
        right before each PUT leaves; ``OutcomeUnknownError`` when ARM acknowledged a PUT
        with an answer the client cannot read and the run command is gone."""
        ...

    async def get_run_command(self, m: MachineRef, name: str) -> RunCommandView | None:
        """The run command, or None on 404."""
        ...

    async def delete_run_command(self, m: MachineRef, name: str) -> None:
        """Delete (and so stop) it; a 404 is fine."""
        ...


@runtime_checkable
class ArmApi(MachineReader, RunCommands, Protocol):
    """Everything one run asks of ARM."""

    def concurrency_for(self, subscription_id: str) -> AdaptiveLimit:
        """One subscription's in-flight limit (ARM's budgets are per subscription)."""
        ...

    def stats(self) -> ArmStats: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class GraphQuery(Protocol):
    def query(
        self, query: str, *, subscriptions: Sequence[str] = ()
    ) -> AsyncIterator[Mapping[str, Any]]:
        """Every row of a Resource Graph query, all pages."""
        ...


class ArmConnection(Protocol):
    """Where and how to reach ARM: what a layer below the engine needs of the run's
    connection options to build its own clients."""

    @property
    def arm_endpoint(self) -> str: ...
    @property
    def api_version(self) -> str: ...
    @property
    def credential(self) -> str: ...  # a --credential name (fleet.arm.credentials)
    @property
    def ca_file(self) -> str | None: ...
    @property
    def arm_limits(self) -> ArmLimits | None: ...
    @property
    def retry(self) -> RetryPolicy | None: ...
