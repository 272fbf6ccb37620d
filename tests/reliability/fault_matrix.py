"""The fault matrix: one simulated rollout per fault profile, checked against the simulator's truth.

For every profile the runner starts a simulator (loopback, simulated time 100x faster) with that
fault, runs a one-step playbook over every machine with the real engine and a real Azurite,
then compares the run folder with what the simulator knows really happened (``/_sim/truth``):

* **double executions** - machines on which a script was started more than once;
* **lost outputs** - machines whose script wrote output that is not, byte for byte (by size,
  and the agent's tail at the end), in the run folder, *and* whose row does not say why;
* **explained** - missing outputs whose row does say why (an agent blob write failure, ...);
* **misclassified** - machines whose final state in the report differs from the truth
  (ran or not, exit code, stuck, unreachable, timed out).

Print the table (500 machines per profile by default)::

    .venv/bin/python -m tests.reliability.fault_matrix [--machines 500] [--only NAME ...] [--no-kill]

Each profile also runs once more with the runner SIGKILLed at a failpoint (``FLEET_FAILPOINT``,
a different point per profile) and finished by ``fleet resume`` (see kill_resume.py).

pytest runs the same code with fewer machines (tests/reliability/test_fault_matrix.py).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import ArmLimits, BucketLimits
from fleet.engine.options import EngineOptions, PollPolicy
from fleet.engine.session import Connection, execute_plan
from fleet.types import JobResult, JobState, RunRecord
from fleet_sim import agent_profile as ap
from fleet_sim.config import (
    Behaviour,
    DisconnectSpec,
    Faults,
    LatencySpec,
    MachineOverride,
    Profile,
    SimConfig,
)
from fleet_sim.server import SimServer
from fleet_sim.truth import truth_json
from tests.engine.helpers import machines_of, make_plan

__all__ = [
    "PROFILES",
    "TIME_SCALE",
    "FaultProfile",
    "MatrixRow",
    "check_run",
    "format_table",
    "main",
    "run_profile",
]

TIME_SCALE = 0.01  # wall seconds per simulated second
JOB_TIMEOUT_S = 4  # the job's timeoutInSeconds: wall seconds for fleet, simulated for the agent
# fleet gives up on a job (stuck, timed out) after timeout + this, wall seconds: generous,
# because the blob writes to Azurite and a busy machine's scheduling are not time-scaled
# (a stuck job costs its wave this long; the 500-machine table shows ~5 such waits).
TIMEOUT_MARGIN_S = 4.0
DISCONNECT_AFTER_S = 60.0  # simulated: during the second wave, after preflight has passed

# Scripts take 0.5-3 simulated seconds after a start latency of ~0.5: well inside the timeout.
AGENT = ap.AgentProfile(
    defaults=ap.Behaviour(
        start_latency_s=ap.Distribution(0.5, 0.3, max_s=1.0),
        duration_s=ap.Distribution(1.5, 0.5, min_s=0.5, max_s=3.0),
        failure_rate=0.05,  # some real script failures, so exit codes are checked too
        failure_exit_code=3,
    )
)


@dataclass(frozen=True, slots=True)
class FaultProfile:
    name: str
    description: str
    faults: Faults = field(default_factory=Faults)
    agent: ap.AgentProfile = AGENT


PROFILES: tuple[FaultProfile, ...] = (
    FaultProfile("baseline", "no faults"),
    FaultProfile("429-storm", "30 % of requests answered 429 (Retry-After 1 s)",
                 Faults(throttle_rate=0.30)),
    FaultProfile("5xx-and-drops", "5 % 500/503, 1 % dropped before and 1 % after acting",
                 Faults(error_rate=0.05, drop_before_rate=0.01, drop_after_rate=0.01)),
    FaultProfile("latency-p99-5s", "every answer delayed, exponential, p99 ~5 s",
                 Faults(latency=LatencySpec("exponential", min_ms=50, mean_ms=1085))),
    FaultProfile("slow-blobs", "agent's blob storage 1 s per request",
                 agent=dataclasses.replace(AGENT, blob_latency_s=1.0)),
    FaultProfile("token-expiry", "tokens expire 20 s after first use (401)",
                 Faults(token_lifetime_s=20.0)),
    FaultProfile("stuck-1pct", "1 % of executions stuck in Creating", Faults(stuck_rate=0.01)),
    FaultProfile("disconnect-1pct", "1 % of machines go Disconnected mid-run",
                 Faults(disconnect=DisconnectSpec(fraction=0.01, after_s=DISCONNECT_AFTER_S))),
    FaultProfile("blob-fail-1pct", "1 % of agent blob writes fail",
                 agent=dataclasses.replace(
                     AGENT, defaults=dataclasses.replace(AGENT.defaults, blob_failure_rate=0.01))),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MatrixRow:
    profile: str
    machines: int
    double_executions: int
    lost_outputs: int
    explained_outputs: int
    misclassified: int
    run_time_s: float
    states: Mapping[str, int] = field(default_factory=dict)
    injected: Mapping[str, int] = field(default_factory=dict)  # the faults that really fired
    problems: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.double_executions or self.lost_outputs or self.misclassified)


def wave_sizes(machines: int) -> list[int]:
    """Canary 1 %, then 10 %, then the rest: faults meet every phase of a rollout."""
    first = max(1, machines // 100)
    second = max(1, machines // 10)
    return [first, second, machines - first - second]


def sim_config(profile: FaultProfile, machines: int, *, seed: int = 1) -> SimConfig:
    return SimConfig(
        machines=machines,
        seed=seed,
        page_size=100,
        time_scale=TIME_SCALE,
        profile=Profile(
            faults=profile.faults,
            # Every machine starts Connected with a current agent: the faults are the only trouble.
            overrides=(MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0"),),
            behaviour=Behaviour(lro_retry_after_s=0),
            agent=profile.agent,
        ),
    )


def engine_options() -> EngineOptions:
    return EngineOptions(
        timeout_margin_s=TIMEOUT_MARGIN_S,
        poll=PollPolicy(first_poll_s=0.02, min_interval_s=0.02, max_interval_s=0.2,
                        read_budget_per_s=2000),
    )  # fmt: skip


def connection(sim: SimServer, storage: str | None) -> Connection:
    roomy = BucketLimits(burst=100_000, per_s=100_000)
    return Connection(
        arm_endpoint=sim.arm_endpoint,
        credential="dev",
        ca_file=sim.ca_file,
        storage_connection_string=storage,
        arm_limits=ArmLimits(reads=roomy, writes=roomy, deletes=roomy),
        # Retry-After is in simulated seconds: cap it by the same factor as everything else.
        retry=RetryPolicy(initial_backoff_s=0.005, max_backoff_s=0.05, deadline_s=60,
                          request_timeout_s=10, max_retry_after_s=5 * TIME_SCALE,
                          default_retry_after_s=TIME_SCALE),
    )  # fmt: skip


def _expected_states(truth: Sequence[Mapping[str, Any]], success_codes: tuple[int, ...]) -> set[JobState]:
    """The engine states that are a correct account of what the simulator knows happened."""
    if not truth:
        # Nothing reached the agent: fleet must not claim the script ran.
        return {JobState.ERROR, JobState.UNREACHABLE, JobState.SKIPPED, JobState.CANCELED}
    last = truth[-1]
    if last["kind"] == "stuck":
        return {JobState.STUCK}
    if last["kind"] == "unreachable":
        return {JobState.UNREACHABLE, JobState.ERROR}
    state = last["execution_state"]
    # fleet's contract: a job whose end no answer showed by its deadline is stopped and called
    # timed out (or stuck, if it never left Creating). A script that ended after fleet's last
    # look (between its last GET and its DELETE) was never reported ended: that verdict is
    # right, whatever the script did next. One whose end was reported must be judged by it.
    late = set() if last["end_reported"] else {JobState.TIMED_OUT, JobState.STUCK}
    if state == "Succeeded":
        ok = last["exit_code"] in success_codes or last["exit_code"] is None
        return ({JobState.SUCCEEDED} if ok else {JobState.FAILED}) | late
    if state == "Failed":
        return {JobState.FAILED} | late
    if state == "TimedOut":
        return {JobState.TIMED_OUT} | late
    if state == "Canceled":  # fleet stops what it gave up on; it must not call that a success
        return {JobState.CANCELED, JobState.TIMED_OUT, JobState.STUCK}
    return {JobState.TIMED_OUT, JobState.ERROR}  # still running when fleet stopped looking


def check_run(
    record: RunRecord, truth: Mapping[str, Any], run_dir: Path, *, executions: Mapping[str, int]
) -> tuple[int, int, int, int, list[str]]:
    """(double executions, lost outputs, explained, misclassified, problem lines)."""
    problems: list[str] = []
    counts = {k.lower(): v for k, v in executions.items()}
    double = sum(1 for v in counts.values() if v > 1)
    problems += [f"executed {v}x: {k}" for k, v in counts.items() if v > 1]
    lost = explained = wrong = 0
    machines: Mapping[str, list[dict[str, Any]]] = truth["machines"]
    for result in record.results:
        if result.rollback:
            continue
        history = machines.get(result.machine.key, [])
        expected = _expected_states(history, (0,))
        if result.state not in expected:
            wrong += 1
            problems.append(
                f"misclassified {result.machine.name}: fleet {result.state}, truth "
                f"{[(h['kind'], h['execution_state'], h['exit_code'], h['end_time'], 'end reported' if h['end_reported'] else 'end not reported') for h in history]}"
            )
        elif history and result.state in (JobState.SUCCEEDED, JobState.FAILED):
            if result.exit_code != history[-1]["exit_code"]:
                wrong += 1
                problems.append(
                    f"misclassified {result.machine.name}: exit {result.exit_code}, "
                    f"truth {history[-1]['exit_code']}"
                )
        executed = [h for h in history if h["kind"] == "executed"]
        if not executed or executed[-1]["output_bytes"] == 0:
            continue
        verdict = _output_verdict(result, executed[-1], run_dir)
        if verdict == "lost":
            lost += 1
            problems.append(
                f"lost output {result.machine.name}: agent wrote {executed[-1]['output_bytes']} "
                f"bytes, run folder has {result.output.size_bytes}, reason {result.reason!r}"
            )
        elif verdict == "explained":
            explained += 1
    return double, lost, explained, wrong, problems


def _output_verdict(result: JobResult, truth: Mapping[str, Any], run_dir: Path) -> str:
    """``kept`` (all bytes in the run folder), ``explained`` (missing, row says why), ``lost``."""
    path = run_dir / result.output.path if result.output.path else None
    size = path.stat().st_size if path is not None and path.exists() else -1
    if result.output.source == "blob" and size == truth["output_bytes"]:
        return "kept"
    reason = (result.reason or "").lower()
    if truth["blob_failure"] and ("output" in reason or "blob" in reason):
        return "explained"
    if result.state in (JobState.STUCK, JobState.TIMED_OUT, JobState.ERROR) and reason:
        return "explained"
    return "lost"


async def run_profile(
    profile: FaultProfile, *, machines: int, storage: str, work_dir: Path, seed: int = 1
) -> MatrixRow:
    """One row: a fresh simulator with ``profile``, one rollout of ``machines``, checked."""
    started = time.monotonic()
    async with SimServer(sim_config(profile, machines, seed=seed)) as sim:
        plan = make_plan(
            machines_of(sim), run_id=f"fm-{profile.name}", timeout_s=JOB_TIMEOUT_S,
            waves=wave_sizes(machines),
        )
        run_dir = work_dir / profile.name
        record = await execute_plan(
            plan, connection=connection(sim, storage), run_dir=run_dir, options=engine_options()
        )
        elapsed = time.monotonic() - started
        truth = truth_json(sim.state.launches)
        stats = sim.stats()
        disconnected = sum(1 for m in sim.machines if m.status == "Disconnected")
        double, lost, explained, wrong, problems = check_run(
            record, truth, run_dir, executions=stats["executions"]
        )
    injected = Counter({k: int(v) for k, v in stats["faults"].items()})
    injected.update(
        {"429": int(stats["throttled"]), "stuck": int(stats["stuck"]),
         "unreachable": int(stats["unreachable"]),
         "401": int(stats["responses_by_status"].get("401", 0)),
         "disconnected": disconnected}
    )  # fmt: skip
    blob_failures = sum(
        1 for runs in truth["machines"].values() for h in runs if h["blob_failure"]
    )
    if blob_failures:
        injected["blob_write_failed"] = blob_failures
    states = Counter(str(r.state) for r in record.results if not r.rollback)
    return MatrixRow(
        profile=profile.name,
        machines=machines,
        double_executions=double,
        lost_outputs=lost,
        explained_outputs=explained,
        misclassified=wrong,
        run_time_s=round(elapsed, 1),
        states=dict(sorted(states.items())),
        injected={k: v for k, v in sorted(injected.items()) if v},
        problems=tuple(problems),
    )


def format_table(rows: Sequence[MatrixRow]) -> str:
    """The README's Markdown table."""
    lines = [
        "| profile | machines | double executions | lost outputs | outputs missing, row says why "
        "| misclassified | run time (s) | final states | faults injected |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        states = ", ".join(f"{k} {v}" for k, v in r.states.items())
        injected = ", ".join(f"{k} {v}" for k, v in r.injected.items()) or "-"
        lines.append(
            f"| {r.profile} | {r.machines} | {r.double_executions} | {r.lost_outputs} | "
            f"{r.explained_outputs} | {r.misclassified} | {r.run_time_s:.1f} | {states} | {injected} |"
        )
    return "\n".join(lines)


async def _main(machines: int, names: Sequence[str], kill: bool, hostile: bool) -> list[MatrixRow]:
    from fleet_sim.azurite import start_azurite
    from tests.reliability.hostile_rows import HOSTILE, run_hostile_row
    from tests.reliability.kill_resume import run_killed_profile

    chosen = [p for p in PROFILES if not names or p.name in names]
    azurite = await asyncio.to_thread(start_azurite)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="fleet-fault-matrix-") as tmp:
            for profile in chosen:
                row = await run_profile(
                    profile, machines=machines, storage=azurite.connection_string, work_dir=Path(tmp)
                )
                print(f"{row.profile}: {row.run_time_s:.1f} s", file=sys.stderr, flush=True)
                rows.append(row)
            for name in HOSTILE if hostile else ():
                row = await run_hostile_row(name, machines=machines,
                                            storage=azurite.connection_string, work_dir=Path(tmp))
                print(f"{row.profile}: {row.run_time_s:.1f} s", file=sys.stderr, flush=True)
                rows.append(row)
            for index, profile in enumerate(chosen if kill else ()):
                row = await run_killed_profile(
                    profile, index=index, machines=machines, storage=azurite.connection_string,
                    work_dir=Path(tmp),
                )
                print(f"{row.profile}: {row.run_time_s:.1f} s", file=sys.stderr, flush=True)
                rows.append(row)
    finally:
        await asyncio.to_thread(azurite.stop)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.fault_matrix", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--only", nargs="*", default=[], choices=[p.name for p in PROFILES])
    parser.add_argument("--no-kill", action="store_true",
                        help="skip the rows where the runner is SIGKILLed and resumed")
    parser.add_argument("--no-hostile", action="store_true",
                        help="skip issue #13's rows (same run id twice, 2xx garbage, deleted "
                             "between crash and resume)")
    args = parser.parse_args(argv)
    rows = asyncio.run(_main(args.machines, args.only, not args.no_kill, not args.no_hostile))
    print(format_table(rows))
    for row in rows:
        for line in row.problems[:20]:
            print(f"{row.profile}: {line}")
    return 0 if all(r.clean for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
