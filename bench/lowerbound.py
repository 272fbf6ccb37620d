"""The makespan no client can beat on a given fleet, and the execution times behind it.

The ideal client has zero round-trip time, learns of each completion the instant it happens
(so it spends no reads) and is never answered 429. It sends the PUTs in inventory order, each
as soon as both a write token and one of the ``concurrency`` slots are free:

    w_i     = max(0, (i + 1 - B) / r)                  the i-th write token (0-based i), B the
                                                       write burst, r the refill per second
    start_i = max(w_i, earliest slot end)              a slot frees when its job ends
    end_i   = start_i + L_i + D_i                      L, D: start latency and run time drawn
    LB      = max_i end_i                              by the simulator for machine i

Deletes have their own bucket and run after completion; reads are not needed by the ideal
client; both are left out, which only makes the bound lower (so harder to approach).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from pathlib import Path

__all__ = ["drawn_execution_s", "lower_bound_s"]


def lower_bound_s(
    execution_s: Sequence[float], *, concurrency: int, write_burst: float, write_per_s: float
) -> float:
    """The ideal makespan in simulated seconds (see the module docstring for the formula)."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    slots: list[float] = []  # end times of the jobs holding a slot
    makespan = 0.0
    for i, run_s in enumerate(execution_s):
        token_at = max(0.0, (i + 1 - write_burst) / write_per_s)
        start = token_at
        if len(slots) >= concurrency:
            start = max(start, heapq.heappop(slots))
        end = start + run_s
        heapq.heappush(slots, end)
        makespan = max(makespan, end)
    return makespan


def drawn_execution_s(profile_path: Path, *, machines: int, seed: int) -> list[float]:
    """Start latency + run time of each machine's first execution, in inventory order.

    The simulated agent seeds one ``random.Random`` per (seed, machine id, execution number),
    so these are exactly the values the simulator draws when each machine runs once.
    """
    from fleet.sim.agent_profile import AgentProfile
    from fleet.sim.config import SimConfig, load_profile
    from fleet.sim.server import load_machines

    profile = load_profile(profile_path)
    agent = profile.agent if profile.agent is not None else AgentProfile()
    config = SimConfig(machines=machines, seed=seed, subscriptions=1, profile=profile)
    out: list[float] = []
    for machine in load_machines(config):
        behaviour = agent.resolve(machine.name, machine.tags, "")
        rng = random.Random(f"{seed}\x00{machine.resource_id.lower()}\x00{1}")
        draw = behaviour.draw(rng)
        out.append(draw.start_latency_s + draw.duration_s)
    return out
