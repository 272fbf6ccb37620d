"""Offline model of the poll schedule: no network, no simulator, no waiting.

Jobs are dispatched at the write bucket's pace (burst 200, then 10/s) under the concurrency
limit, each runs its drawn execution time (start latency + run time, the simulator's own draws),
and the real ``PollScheduler`` polls fake GETs. By default time is virtual: the event loop's
clock jumps to its next timer instead of sleeping, so a run is deterministic (the same numbers
for the same seed) and takes seconds of CPU even at N = 10,000. ``--time-scale`` runs it on a
scaled wall clock instead (the schedule then also sees the event loop's own delays). Prints
reads per machine, the makespan against the lower bound, and the detection lag (a job's end to
the GET that saw it finished), to tune ``PollPolicy`` before a full benchmark.

    .venv/bin/python -m bench.pollmodel --machines 1000 --concurrency 500
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import selectors
import statistics
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bench.lowerbound import drawn_execution_s, lower_bound_s
from fleet.clock import Clock, ScaledClock
from fleet.engine.options import PollPolicy
from fleet.engine.poller import PollScheduler

__all__ = ["ModelResult", "model", "run_model", "run_virtual"]

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "profiles" / "arm-real.yaml"
T = TypeVar("T")


@dataclasses.dataclass
class _View:
    execution_state: str
    provisioning_state: str = "Succeeded"
    exit_code: int | None = 0
    execution_message: str | None = None


class _VirtualSelector(selectors.DefaultSelector):
    """Looks at the (real) file descriptors without blocking; a wait for a timer advances the
    loop's virtual clock by the timeout instead."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._advance(timeout)
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(_VirtualSelector(self._advance))

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    def time(self) -> float:
        return self._virtual_now


class _LoopClock:
    """The running loop's clock (virtual under ``run_virtual``)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on an event loop whose time only advances when every task waits."""
    loop = _VirtualLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


@dataclasses.dataclass(frozen=True)
class ModelResult:
    machines: int
    makespan_s: float
    lower_bound_s: float
    reads: int
    lags: tuple[tuple[float, float], ...]  # (end time, detection lag) per job, by end time

    @property
    def ratio(self) -> float:
        return self.makespan_s / self.lower_bound_s

    @property
    def reads_per_machine(self) -> float:
        return self.reads / self.machines

    def lag_quantile(self, q: float) -> float:
        values = sorted(lag for _, lag in self.lags)
        return values[min(len(values) - 1, int(q * len(values)))]


async def model(
    executions: list[float], *, concurrency: int, clock: Clock, policy: PollPolicy,
    lags: list[tuple[float, float]] | None = None,
) -> tuple[float, int]:
    """Makespan and GETs. ``lags`` receives (end time, detection lag) per job: how long after
    its end the schedule saw it finished."""
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


def run_model(
    machines: int, *, concurrency: int = 500, policy: PollPolicy | None = None, seed: int = 0,
    time_scale: float | None = None, profile: Path = PROFILE,
) -> ModelResult:
    """One run of the model on the simulator's draws for ``seed`` (virtual time unless
    ``time_scale`` is given)."""
    executions = drawn_execution_s(profile, machines=machines, seed=seed)
    bound = lower_bound_s(executions, concurrency=concurrency, write_burst=200, write_per_s=10)
    lags: list[tuple[float, float]] = []
    policy = policy if policy is not None else PollPolicy()
    if time_scale is None:
        clock: Clock = _LoopClock()
        makespan, reads = run_virtual(
            model(executions, concurrency=concurrency, clock=clock, policy=policy, lags=lags))
    else:
        makespan, reads = asyncio.run(
            model(executions, concurrency=concurrency, clock=ScaledClock(time_scale),
                  policy=policy, lags=lags))
    return ModelResult(machines, makespan, bound, reads, tuple(sorted(lags)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=None,
                        help="run on a wall clock scaled this much (default: virtual time)")
    parser.add_argument("--profile", type=Path, default=PROFILE)
    args = parser.parse_args()
    result = run_model(args.machines, concurrency=args.concurrency, seed=args.seed,
                       time_scale=args.time_scale, profile=args.profile)
    print(f"N={result.machines} makespan {result.makespan_s:.1f} s, "
          f"LB {result.lower_bound_s:.1f} s, ratio {result.ratio:.3f}, "
          f"reads/machine {result.reads_per_machine:.3f}, "
          f"detection lag median {result.lag_quantile(0.5):.1f} s, "
          f"p90 {result.lag_quantile(0.9):.1f} s")
    print(lag_line(list(result.lags)))


def lag_line(lags: list[tuple[float, float]], parts: int = 4) -> str:
    """Detection lag (seen finished - ended) by quarter of the run: flat in N is the goal."""
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
