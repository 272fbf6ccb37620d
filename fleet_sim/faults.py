"""Seeded fault decisions. Each kind of decision draws from its own ``random.Random`` stream so
turning one fault on does not reshuffle the others; per-machine decisions hash the machine's id,
so they do not depend on request order at all."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Literal

from fleet_sim.clock import SimClock
from fleet_sim.config import Faults

__all__ = ["FaultInjector", "RequestFault"]

FaultKind = Literal["none", "error", "drop_before", "drop_after", "throttle"]


@dataclass(frozen=True, slots=True)
class RequestFault:
    kind: FaultKind
    status: int = 0


def _unit(seed: int, label: str, key: str) -> float:
    """A reproducible number in [0, 1) for (seed, label, key)."""
    digest = hashlib.sha256(f"{seed}:{label}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultInjector:
    def __init__(self, faults: Faults, *, seed: int, clock: SimClock) -> None:
        self.faults = faults
        self.seed = seed
        self.clock = clock
        self._latency = random.Random(f"{seed}:latency")
        self._request = random.Random(f"{seed}:request")
        self._stuck = random.Random(f"{seed}:stuck")
        self._tokens: dict[str, float] = {}  # token digest -> simulated time first seen

    def latency_s(self) -> float:
        """Simulated seconds to wait before answering."""
        spec = self.faults.latency
        if spec.distribution == "fixed":
            return spec.min_ms / 1000
        if spec.distribution == "uniform":
            return self._latency.uniform(spec.min_ms, spec.max_ms) / 1000
        if spec.distribution == "exponential":
            value = self._latency.expovariate(1 / spec.mean_ms) if spec.mean_ms > 0 else 0.0
            return (spec.min_ms + value) / 1000
        return 0.0

    def for_request(self, method: str) -> RequestFault:
        f = self.faults
        if method not in f.methods:
            return RequestFault("none")
        roll = self._request.random()
        for kind, rate in (
            ("drop_before", f.drop_before_rate),
            ("error", f.error_rate),
            ("throttle", f.throttle_rate),
            ("drop_after", f.drop_after_rate),
        ):
            if roll < rate:
                status = self._request.choice(f.error_statuses) if kind == "error" else 0
                return RequestFault(kind, status)  # type: ignore[arg-type]
            roll -= rate
        return RequestFault("none")

    def stuck(self) -> bool:
        return self.faults.stuck_rate > 0 and self._stuck.random() < self.faults.stuck_rate

    def disconnect_at(self, machine_key: str) -> float | None:
        """Simulated time at which this machine goes Disconnected, or None."""
        spec = self.faults.disconnect
        if spec.fraction > 0 and _unit(self.seed, "disconnect", machine_key) < spec.fraction:
            return spec.after_s
        return None

    def token_expired(self, token: str) -> bool:
        lifetime = self.faults.token_lifetime_s
        if lifetime is None:
            return False
        # Keep a digest, never the token itself.
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock.now()
        first = self._tokens.setdefault(key, now)
        return now - first > lifetime
