"""Build small plans by hand for engine tests (the plan builder has its own golden tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import ArmLimits, BucketLimits
from fleet.engine.options import EngineOptions, PollPolicy
from fleet.engine.session import Connection
from fleet.plan.model import (
    Job,
    Plan,
    PlaybookInfo,
    RolloutPolicy,
    SecretRef,
    StepInfo,
    Success,
    Wave,
)
from fleet.types import MachineRef
from fleet_sim.server import SimServer

FAST_OPTIONS = EngineOptions(
    timeout_margin_s=5.0,
    poll=PollPolicy(first_poll_s=0.02, min_interval_s=0.01, max_interval_s=0.2, read_budget_per_s=2000),
)
FAST_RETRY = RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.01, deadline_s=30, request_timeout_s=10)
ROOMY = ArmLimits(
    reads=BucketLimits(burst=100_000, per_s=100_000),
    writes=BucketLimits(burst=100_000, per_s=100_000),
    deletes=BucketLimits(burst=100_000, per_s=100_000),
)


def machines_of(sim: SimServer, os_type: str | None = None) -> list[MachineRef]:
    return [
        MachineRef(m.subscription_id, m.resource_group, m.name, m.location, m.os_type)
        for m in sim.machines
        if os_type is None or m.os_type == os_type
    ]


def connection(sim: SimServer, storage: str | None, **kw: Any) -> Connection:
    return Connection(
        arm_endpoint=sim.arm_endpoint,
        credential="dev",
        ca_file=sim.ca_file,
        storage_connection_string=storage,
        arm_limits=kw.get("arm_limits", ROOMY),
        retry=kw.get("retry", FAST_RETRY),
    )


def make_plan(
    machines: Sequence[MachineRef],
    *,
    run_id: str = "t1",
    waves: Sequence[int] | None = None,
    steps: Sequence[tuple[str, str]] = (("apply", "echo hello"),),
    parameters: Sequence[tuple[str, str]] = (("port", "443"),),
    protected: Sequence[tuple[str, SecretRef]] = (),
    rollout: RolloutPolicy | None = None,
    success: Success | None = None,
    timeout_s: int = 60,
    rollback: Sequence[tuple[str, str]] = (),
) -> Plan:
    sizes = list(waves or [len(machines)])
    wave_list: list[Wave] = []
    start = 0
    for index, size in enumerate(sizes, start=1):
        wave_list.append(Wave(index, str(size), tuple(machines[start : start + size])))
        start += size
    assert start == len(machines)

    def jobs_for(step_specs: Sequence[tuple[str, str]], is_rollback: bool) -> list[Job]:
        out = []
        for wave in wave_list:
            for m in wave.machines:
                for index, (step, script) in enumerate(step_specs):
                    suffix = "rb" if is_rollback else "s"
                    out.append(
                        Job(
                            machine=m,
                            step=step,
                            step_index=index,
                            wave=-1 if is_rollback else wave.index,
                            run_command_name=f"fleet-{run_id}-{suffix}{index}-1",
                            output_blob=f"{m.name}/{step}{'.rb' if is_rollback else ''}.a1.out",
                            error_blob=f"{m.name}/{step}{'.rb' if is_rollback else ''}.a1.err",
                            request={
                                "location": m.location,
                                "properties": {
                                    "source": {"script": script},
                                    "parameters": [{"name": n, "value": v} for n, v in parameters],
                                    "asyncExecution": False,
                                    "timeoutInSeconds": timeout_s,
                                },
                            },
                            timeout_s=timeout_s,
                            success=success or Success(),
                            protected_parameters=tuple(protected),
                            rollback=is_rollback,
                        )
                    )
        return out

    return Plan(
        run_id=run_id,
        playbook=PlaybookInfo("test", "test.yaml", "0" * 64),
        waves=tuple(wave_list),
        steps=tuple(StepInfo(s) for s, _ in steps),
        jobs=tuple(jobs_for(steps, False)),
        rollback_steps=tuple(StepInfo(s) for s, _ in rollback),
        rollback_jobs=tuple(jobs_for(rollback, True)),
        rollout=rollout or RolloutPolicy(),
    )
