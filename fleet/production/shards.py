"""Cutting waves into shards: one subscription's machines of one wave, in chunks of at most
``max_shard`` machines. ARM's request budgets belong to a subscription and principal, so the
workflow runs a subscription's shards one after another (never two at once), and different
subscriptions' shards side by side."""

from __future__ import annotations

from collections.abc import Sequence

from fleet.plan.model import Job, Plan, Wave
from fleet.production.model import ShardSpec, WaveSpec

__all__ = ["DEFAULT_MAX_SHARD", "cut_waves", "shard_plan"]

DEFAULT_MAX_SHARD = 500


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


def shard_plan(plan: Plan, wave_index: int, shard: ShardSpec) -> Plan:
    """The part of ``plan`` one shard runs: one wave of its machines and their jobs (its
    rollback jobs too, so a rollback shard can use it)."""
    wave = next(w for w in plan.waves if w.index == wave_index)
    positions = _by_subscription(wave).get(shard.subscription_id, [])[shard.start : shard.end]
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
        rollout=plan.rollout,
        warnings=plan.warnings,
    )
