"""The simulated fleet: ``SimMachine`` values, generated deterministically from a seed or taken
from an inventory, then adjusted by the profile's machine overrides."""

from __future__ import annotations

import fnmatch
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from fleet.types import machine_resource_id
from fleet_sim.config import MachineOverride, NullsSpec

__all__ = [
    "CURRENT_AGENT_VERSION",
    "SimMachine",
    "apply_overrides",
    "generate_fleet",
    "version_tuple",
]

CURRENT_AGENT_VERSION = "1.48.02881.1941"
OLD_AGENT_VERSION = "1.31.02347.957"
LOCATIONS = ("eastus", "westeurope", "westus2", "northeurope", "southeastasia")
ROLES = ("web", "db", "app", "cache", "batch")
ENVS = ("prod", "staging", "dev")
OS_NAMES = {
    "linux": ("ubuntu", "22.04"),
    "windows": ("Windows Server 2022 Datacenter", "10.0.20348"),
}
# A fixed epoch keeps generated timestamps reproducible across runs.
STATUS_EPOCH = "2026-01-05T08:00:00Z"


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.33.0"`` -> ``(1, 33, 0)``; non-numeric parts count as 0."""
    parts = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class SimMachine:
    name: str
    subscription_id: str
    resource_group: str
    location: str
    os_type: str  # "linux" or "windows"
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str = "Connected"
    agent_version: str = CURRENT_AGENT_VERSION
    vm_id: str = ""
    nulls: str = ""  # "", "optional" or "full": which fields render as JSON null
    last_status_change: str = STATUS_EPOCH

    @property
    def resource_id(self) -> str:
        return machine_resource_id(self.subscription_id, self.resource_group, self.name)

    @property
    def key(self) -> str:
        return self.resource_id.lower()


def _subscription_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_fleet(
    count: int, *, seed: int, subscriptions: int = 3, nulls: NullsSpec | None = None
) -> list[SimMachine]:
    """``count`` machines spread over subscriptions, resource groups, locations, both OSes and
    env/role/ring tags. Names are globally unique (``arc-lnx-web-0001``); same seed, same fleet.
    Every 25th machine (from the 13th) runs an agent older than 1.33 and every 40th (from the
    7th) is Disconnected, so preflight has work."""
    rng = random.Random(f"fleet:{seed}")
    null_rng = random.Random(f"nulls:{seed}")
    nulls = nulls or NullsSpec()
    subs = [_subscription_id(rng) for _ in range(max(1, subscriptions))]
    machines = []
    for index in range(1, count + 1):
        os_type = "windows" if rng.random() < 0.35 else "linux"
        role = rng.choice(ROLES)
        env = ENVS[0] if rng.random() < 0.6 else rng.choice(ENVS[1:])
        sub = subs[index % len(subs)]
        location = rng.choice(LOCATIONS)
        rg = f"rg-{env}-{location}"
        ring = "0" if index % 50 == 1 else str(1 + rng.randrange(3))
        # Fixed positions (not random draws) so every fleet of 40+ has both kinds.
        status = "Disconnected" if index % 40 == 7 else "Connected"
        agent = OLD_AGENT_VERSION if index % 25 == 13 else CURRENT_AGENT_VERSION
        prefix = "lnx" if os_type == "linux" else "win"
        machines.append(
            SimMachine(
                name=f"arc-{prefix}-{role}-{index:04d}",
                subscription_id=sub,
                resource_group=rg,
                location=location,
                os_type=os_type,
                tags={"env": env, "role": role, "ring": ring},
                status=status,
                agent_version=agent,
                vm_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                nulls=nulls.level if null_rng.random() < nulls.fraction else "",
            )
        )
    return machines


def _matches(machine: SimMachine, rule: MachineOverride) -> bool:
    if not fnmatch.fnmatchcase(machine.name, rule.name_glob):
        return False
    return all(machine.tags.get(k) == v for k, v in rule.tags.items())


def apply_overrides(
    machines: Iterable[SimMachine], rules: Iterable[MachineOverride]
) -> list[SimMachine]:
    """Apply each matching rule in order (later rules win)."""
    rules = tuple(rules)
    result = []
    for machine in machines:
        for rule in rules:
            if _matches(machine, rule):
                if rule.status is not None:
                    machine = replace(machine, status=rule.status)
                if rule.agent_version is not None:
                    machine = replace(machine, agent_version=rule.agent_version)
        result.append(machine)
    return result
