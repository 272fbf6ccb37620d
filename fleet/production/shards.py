"""Cutting waves into shards: one subscription's machines of one wave, in chunks of at most
``max_shard`` machines. ARM's request budgets belong to a subscription and principal, so the
workflow runs a subscription's shards one after another (never two at once), and different
subscriptions' shards side by side."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fleet.plan.model import Job, Plan, Wave
from fleet.production.model import ROLLBACK_WAVE, ShardSpec, WaveSpec
from fleet.types import MachineRef

__all__ = ["DEFAULT_MAX_SHARD", "ROLLBACK_WAVE", "cut_rollback", "cut_waves", "shard_plan",
           "shard_window"]

# A subscription's chunks run one after another, and each chunk ends with its slowest job: every
# chunk boundary costs a run-time tail (measured: N = 1,000 in one subscription as two chunks of
# 500 took 1.39 x the embedded makespan, the second chunk starting only when the first's last
# job ended). Larger chunks mean fewer tails; a chunk's heartbeat (the positions of its jobs in
# flight, a few bytes each) and what a retried attempt re-reads grow with it.
DEFAULT_MAX_SHARD = 2_000


def _by_subscription(wave: Wave) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for position, machine in enumerate(wave.machines):
        groups.setdefault(machine.subscription_id.lower(), []).append(position)
    return groups


def cut_waves(plan: Plan, max_shard: int = DEFAULT_MAX_SHARD) -> list[WaveSpec]:
    """Shards of every wave; ``start``/``end`` index the subscription's machines of the wave."""
    waves = []
    for wave in plan.waves:
        shards = []
        for subscription, positions in sorted(_by_subscription(wave).items()):
            for start in range(0, len(positions), max_shard):
                end = min(len(positions), start + max_shard)
                shard_id = f"w{wave.index}-{subscription[:8]}-{start // max_shard}"
                shards.append(ShardSpec(shard_id, subscription, start, end))
        waves.append(WaveSpec(wave.index, wave.label, len(wave.machines), shards))
    return waves


def _run_by_subscription(plan: Plan) -> dict[str, list[MachineRef]]:
    groups: dict[str, list[MachineRef]] = {}
    for wave in plan.waves:
        for machine in wave.machines:
            groups.setdefault(machine.subscription_id.lower(), []).append(machine)
    return groups


def cut_rollback(plan: Plan, max_shard: int = DEFAULT_MAX_SHARD) -> list[ShardSpec]:
    """The rollback's shards: each subscription's machines of the whole run (plan order), in
    chunks of at most ``max_shard``; ``start``/``end`` index that list. Which of them are
    rollback targets each shard decides from the wave shards' results."""
    if not plan.rollback_jobs or plan.rollout.rollback_on != "breach":
        return []
    shards = []
    for subscription, machines in sorted(_run_by_subscription(plan).items()):
        for start in range(0, len(machines), max_shard):
            end = min(len(machines), start + max_shard)
            shards.append(ShardSpec(f"rb-{subscription[:8]}-{start // max_shard}", subscription,
                                    start, end))
    return shards


def shard_window(wave_size: int, subscription_size: int, max_concurrency: str) -> int:
    """The wave's window (``max_concurrency`` of the whole wave) shared among the subscriptions
    that run side by side, by their share of the wave's machines (at least 1 each): the wave
    never has more machines in flight than the embedded mode would, give or take rounding."""
    from fleet.engine.amounts import resolve_amount

    window = resolve_amount(max_concurrency, wave_size, minimum=1) or 1
    return max(1, window * subscription_size // max(1, wave_size))


def shard_plan(plan: Plan, wave_index: int, shard: ShardSpec) -> Plan:
    """The part of ``plan`` one shard runs: one wave of its machines and their jobs, with the
    subscription's share of the wave's window as its ``max_concurrency``."""
    if wave_index == ROLLBACK_WAVE:
        return _rollback_plan(plan, shard)
    wave = next(w for w in plan.waves if w.index == wave_index)
    subscription = _by_subscription(wave).get(shard.subscription_id, [])
    positions = subscription[shard.start : shard.end]
    machines = tuple(wave.machines[p] for p in positions)
    keys = {m.key for m in machines}

    def mine(jobs: Sequence[Job]) -> tuple[Job, ...]:
        return tuple(j for j in jobs if j.machine.key in keys)

    return Plan(
        run_id=plan.run_id,
        playbook=plan.playbook,
        waves=(Wave(wave.index, wave.label, machines),),
        steps=plan.steps,
        jobs=mine(plan.jobs),
        rollback_steps=(),
        rollback_jobs=(),
        rollout=dataclasses.replace(plan.rollout, max_concurrency=str(shard_window(
            len(wave.machines), len(subscription), plan.rollout.max_concurrency))),
        warnings=plan.warnings,
    )


def _rollback_plan(plan: Plan, shard: ShardSpec) -> Plan:
    """A rollback shard's part of ``plan``: its machines in their waves, their jobs (whose
    outcomes choose the targets) and their rollback jobs, with the subscription's share of the
    run's window."""
    subscription = _run_by_subscription(plan).get(shard.subscription_id, [])
    keys = {m.key for m in subscription[shard.start : shard.end]}
    waves = tuple(Wave(w.index, w.label, tuple(m for m in w.machines if m.key in keys))
                  for w in plan.waves)
    total = sum(len(w.machines) for w in plan.waves)
    return Plan(
        run_id=plan.run_id,
        playbook=plan.playbook,
        waves=tuple(w for w in waves if w.machines),
        steps=plan.steps,
        jobs=tuple(j for j in plan.jobs if j.machine.key in keys),
        rollback_steps=plan.rollback_steps,
        rollback_jobs=tuple(j for j in plan.rollback_jobs if j.machine.key in keys),
        rollout=dataclasses.replace(plan.rollout, max_concurrency=str(shard_window(
            total, len(subscription), plan.rollout.max_concurrency))),
        warnings=plan.warnings,
    )
