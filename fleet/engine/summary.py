"""A short, human summary of a plan: what `fleet run` shows before asking to go ahead."""

from __future__ import annotations

from collections import Counter

from fleet.plan.model import Plan
from fleet.report.recap import plural

__all__ = ["plan_summary"]


def plan_summary(plan: Plan) -> str:
    machines = sum(len(w.machines) for w in plan.waves)
    lines = [
        f"run {plan.run_id}: playbook {plan.playbook.name!r} ({plan.playbook.path})",
        f"  {plural(machines, 'machine')} in {plural(len(plan.waves), 'wave')}, "
        f"{plural(len(plan.steps), 'step')} each: {', '.join(s.name for s in plan.steps)}",
    ]
    for wave in plan.waves:
        subs = Counter(m.subscription_id for m in wave.machines)
        lines.append(
            f"  wave {wave.index + 1}/{len(plan.waves)} [{wave.label}]: {plural(len(wave.machines), 'machine')} "
            f"in {plural(len(subs), 'subscription')}"
        )
    policy = plan.rollout
    budget = "none" if policy.max_failures is None else f"{policy.max_failures} per {policy.failures_per}"
    lines.append(
        f"  rollout: max_concurrency {policy.max_concurrency}, max_failures {budget}, "
        f"on breach {policy.on_breach}"
        + (f", rollback steps: {len(plan.rollback_steps)}" if plan.rollback_steps else "")
    )
    if plan.excluded:
        lines.append(f"  excluded: {plural(len(plan.excluded), 'machine')}")
    for warning in plan.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)
