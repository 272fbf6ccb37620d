"""Offline model of the poll schedule: no network, no simulator; seconds instead of minutes.

Jobs are dispatched at the write bucket's pace (burst 200, then 10/s) under the concurrency
limit, each runs its drawn execution time, and the real ``PollScheduler`` polls fake GETs on a
clock scaled ``--time-scale`` (default 0.01). Prints reads per machine and the makespan against
the lower bound, to tune ``PollPolicy`` before a full benchmark.

    .venv/bin/python -m bench.pollmodel --machines 1000 --concurrency 500
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from pathlib import Path

from bench.lowerbound import drawn_execution_s, lower_bound_s
from fleet.engine.options import PollPolicy, ScaledClock
from fleet.engine.poller import PollScheduler

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class _View:
    execution_state: str
    provisioning_state: str = "Succeeded"
    exit_code: int | None = 0
    execution_message: str | None = None


async def model(
    executions: list[float], *, concurrency: int, time_scale: float, policy: PollPolicy,
    lags: list[tuple[float, float]] | None = None,
) -> tuple[float, int]:
    """Makespan and GETs. ``lags`` receives (end time, detection lag) per job: how long after
    its end the schedule saw it finished."""
    clock = ScaledClock(time_scale)
    poller = PollScheduler(clock, policy)
    start = clock.now()
    slots = asyncio.Semaphore(concurrency)
    reads = 0

    async def one(i: int, run_s: float) -> None:
        nonlocal reads
        async with slots:
            token_at = start + max(0.0, (i + 1 - 200) / 10.0)
            await clock.sleep(token_at - clock.now())
            ends = clock.now() + run_s

            async def fetch() -> _View:
                nonlocal reads
                reads += 1
                now = clock.now()
                if now >= ends and lags is not None:
                    lags.append((ends - start, now - ends))
                return _View("Succeeded" if now >= ends else "Running")

            outcome = await poller.wait(fetch, deadline=clock.now() + 10_000)
            assert outcome.terminal

    await asyncio.gather(*(one(i, d) for i, d in enumerate(executions)))
    makespan = clock.now() - start
    await poller.aclose()
    return makespan, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--profile", type=Path, default=HERE / "profiles" / "arm-real.yaml")
    args = parser.parse_args()
    executions = drawn_execution_s(args.profile, machines=args.machines, seed=0)
    bound = lower_bound_s(executions, concurrency=args.concurrency, write_burst=200, write_per_s=10)
    policy = PollPolicy()
    lags: list[tuple[float, float]] = []
    makespan, reads = asyncio.run(
        model(executions, concurrency=args.concurrency, time_scale=args.time_scale, policy=policy,
              lags=lags)
    )
    n = args.machines
    print(f"N={n} makespan {makespan:.1f} s, LB {bound:.1f} s, ratio {makespan / bound:.3f}, "
          f"reads/machine {reads / n:.2f}")
    print(lag_line(lags))


def lag_line(lags: list[tuple[float, float]], parts: int = 4) -> str:
    """Detection lag (seen finished - ended) by quarter of the run: flat in N is the goal."""
    import statistics

    if not lags:
        return "no lags"
    lags = sorted(lags)
    size = -(-len(lags) // parts)
    cells = []
    for k in range(0, len(lags), size):
        chunk = [lag for _, lag in lags[k:k + size]]
        chunk.sort()
        p90 = chunk[min(len(chunk) - 1, int(0.9 * len(chunk)))]
        cells.append(f"ended {lags[k][0]:.0f}-{lags[min(k + size, len(lags)) - 1][0]:.0f} s: "
                     f"median {statistics.median(chunk):.1f} s, p90 {p90:.1f} s")
    return "detection lag by quarter of the run: " + "; ".join(cells)


if __name__ == "__main__":
    main()
