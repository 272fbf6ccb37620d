"""In-memory fakes at the engine's ARM seam (``fleet.arm.protocol``).

Each is checked against its Protocol statically (the annotated assignments at the bottom:
`mypy tests/unit/engine/fakes.py` fails when a Protocol and a fake drift apart) and at run time
(tests/unit/test_seams.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.arm.models import ArmStats, MachineInfo, RunCommandView
from fleet.arm.protocol import AdaptiveLimit, ArmApi
from fleet.errors import NotFoundError
from fleet.types import MachineRef


@dataclass
class FixedLimit:
    """An ``AdaptiveLimit`` that only remembers the cap it was given."""

    limit: int = 1_000
    capped_at: int | None = None

    def cap(self, ceiling: int) -> None:
        self.capped_at = ceiling
        self.limit = min(self.limit, ceiling)


@dataclass
class FakeArm:
    """Machines and run commands in dicts; every call is recorded in ``calls``."""

    machines: dict[str, MachineInfo] = field(default_factory=dict)  # by lower-case name
    commands: dict[tuple[str, str], RunCommandView] = field(default_factory=dict)
    limits: dict[str, FixedLimit] = field(default_factory=dict)  # by lower-case subscription
    calls: list[str] = field(default_factory=list)
    closed: bool = False

    def add(self, info: MachineInfo) -> None:
        self.machines[info.ref.name.lower()] = info

    async def get_machine(self, m: MachineRef) -> MachineInfo:
        self.calls.append(f"get_machine {m.name}")
        info = self.machines.get(m.name.lower())
        if info is None:
            raise NotFoundError(f"machine {m.name} not found", status=404)
        return info

    async def list_machines(
        self, subscription_id: str, resource_group: str | None = None
    ) -> AsyncIterator[MachineInfo]:
        self.calls.append(f"list_machines {subscription_id} {resource_group}")
        for info in list(self.machines.values()):
            ref = info.ref
            if ref.subscription_id == subscription_id and (
                resource_group is None or ref.resource_group.lower() == resource_group.lower()
            ):
                yield info

    async def put_run_command(
        self, m: MachineRef, name: str, body: Mapping[str, Any], *,
        on_send: Callable[[], None] | None = None,
    ) -> RunCommandView:
        if on_send is not None:
            on_send()
        self.calls.append(f"put {m.name} {name}")
        view = RunCommandView(name=name, provisioning_state="Creating")
        self.commands[(m.key, name)] = view
        return view

    async def get_run_command(self, m: MachineRef, name: str) -> RunCommandView | None:
        self.calls.append(f"get {m.name} {name}")
        return self.commands.get((m.key, name))

    async def delete_run_command(self, m: MachineRef, name: str) -> None:
        self.calls.append(f"delete {m.name} {name}")
        self.commands.pop((m.key, name), None)

    def concurrency_for(self, subscription_id: str) -> FixedLimit:
        return self.limits.setdefault(subscription_id.lower(), FixedLimit())

    def stats(self) -> ArmStats:
        return ArmStats(by_kind={"read": sum(c.startswith(("get", "list")) for c in self.calls)})

    async def aclose(self) -> None:
        self.closed = True


# Static conformance: mypy reports these lines if a fake stops fitting its seam.
_ARM: ArmApi = FakeArm()
_LIMIT: AdaptiveLimit = FixedLimit()
