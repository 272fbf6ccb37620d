"""Preflight: before dispatching to a machine, know that it can run a command.

A machine is *reachable* when ARM says it is Connected, its agent is at least 1.33 (the
first with run command) and its OS is the one the plan expects. Others are unreachable with
a reason, counted apart from failures, and never dispatched. Where a wave has many machines
in one resource group, one paged list costs fewer reads than a GET per machine.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleet.engine.classify import parse_agent_version
from fleet.errors import FleetError, NotFoundError
from fleet.types import MachineRef

if TYPE_CHECKING:
    from fleet.arm.models import MachineInfo
    from fleet.arm.protocol import MachineReader

__all__ = ["Reachability", "preflight"]


@dataclass(frozen=True, slots=True)
class Reachability:
    machine: MachineRef
    reachable: bool
    reason: str | None = None
    status: str | None = None


def judge_machine(
    machine: MachineRef, info: MachineInfo, min_agent: tuple[int, int]
) -> Reachability:
    status = info.status
    if (status or "").lower() != "connected":
        return Reachability(machine, False, f"machine status is {status or 'unknown'}", status)
    version = parse_agent_version(info.agent_version)
    if version is None or version[:2] < min_agent:
        shown = info.agent_version or "unknown"
        wanted = ".".join(str(v) for v in min_agent)
        return Reachability(
            machine, False, f"agent version {shown} is older than {wanted}", status
        )
    actual_os = (info.ref.os_type or "").lower()
    if machine.os_type and actual_os and actual_os != machine.os_type.lower():
        return Reachability(
            machine, False, f"OS is {actual_os}, the inventory says {machine.os_type}", status
        )
    return Reachability(machine, True, None, status)


async def preflight(
    arm: MachineReader,
    machines: Iterable[MachineRef],
    *,
    min_agent: tuple[int, int],
    list_threshold: int,
) -> dict[str, Reachability]:
    """Reachability of each machine, keyed by ``MachineRef.key``."""
    by_group: dict[tuple[str, str], list[MachineRef]] = defaultdict(list)
    for machine in machines:
        by_group[(machine.subscription_id.lower(), machine.resource_group.lower())].append(machine)
    results: dict[str, Reachability] = {}

    async def one(machine: MachineRef) -> None:
        try:
            info = await arm.get_machine(machine)
        except NotFoundError:
            results[machine.key] = Reachability(machine, False, "machine not found in ARM")
            return
        except FleetError as error:
            results[machine.key] = Reachability(machine, False, f"preflight failed: {error}")
            return
        results[machine.key] = judge_machine(machine, info, min_agent)

    async def group(members: list[MachineRef]) -> None:
        if len(members) < list_threshold:
            await asyncio.gather(*(one(m) for m in members))
            return
        first = members[0]
        found: dict[str, MachineInfo] = {}
        try:
            async for info in arm.list_machines(first.subscription_id, first.resource_group):
                found[info.ref.name.lower()] = info
        except FleetError:
            await asyncio.gather(*(one(m) for m in members))
            return
        for machine in members:
            listed = found.get(machine.name.lower())
            if listed is None:
                results[machine.key] = Reachability(machine, False, "machine not found in ARM")
            else:
                results[machine.key] = judge_machine(machine, listed, min_agent)

    await asyncio.gather(*(group(members) for members in by_group.values()))
    return results
