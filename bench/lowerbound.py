"""The makespan no client can beat on a given fleet, and the execution times behind it.

The ideal client has zero round-trip time, learns of each completion the instant it happens
(so it spends no reads) and is never answered 429. It sends the PUTs in the order of the
inventory file the contenders are given (both fleet and the SDK peer dispatch in that order; no
client knows the run times in advance, so it cannot put the long jobs first), each as soon as
both a write token and one of the ``concurrency`` slots are free:

    w_i     = max(0, (i + 1 - B) / r)                  the i-th write token (0-based i), B the
                                                       write burst, r the refill per second
    start_i = max(w_i, earliest slot end)              a slot frees when its job ends
    end_i   = start_i + L_i + D_i                      L, D: start latency and run time drawn
    LB      = max_i end_i                              by the simulator for machine i

Deletes have their own bucket and run after completion; reads are not needed by the ideal
client; both are left out, which only makes the bound lower (so harder to approach).

``order`` matters: the simulator generates machines in one order and writes its inventory file
in another (by resource group). A bound computed in generation order is not a bound for a
client that follows the file (issue #6: fleet measured 0.96 x such a "bound" at N = 1,000).
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


def drawn_execution_s(
    profile_path: Path, *, machines: int, seed: int, order: Sequence[str] | None = None,
    subscriptions: int = 1,
) -> list[float]:
    """Start latency + run time of each machine's first execution, in the simulator's
    generation order, or in ``order`` (machine resource ids, any case: the inventory file's).

    The simulated agent seeds one ``random.Random`` per (seed, machine id, execution number),
    so these are exactly the values the simulator draws when each machine runs once.
    """
    from fleet_sim.agent_profile import AgentProfile
    from fleet_sim.config import SimConfig, load_profile
    from fleet_sim.server import load_machines

    profile = load_profile(profile_path)
    agent = profile.agent if profile.agent is not None else AgentProfile()
    config = SimConfig(machines=machines, seed=seed, subscriptions=subscriptions, profile=profile)
    drawn: dict[str, float] = {}
    for machine in load_machines(config):
        behaviour = agent.resolve(machine.name, machine.tags, "")
        key = machine.resource_id.lower()
        rng = random.Random(f"{seed}\x00{key}\x00{1}")
        draw = behaviour.draw(rng)
        drawn[key] = draw.start_latency_s + draw.duration_s
    if order is None:
        return list(drawn.values())
    return [drawn[key.lower()] for key in order]
