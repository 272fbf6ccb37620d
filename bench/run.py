"""The benchmark harness: fleet vs the SDK peer on one simulator configuration.

    .venv/bin/python -m bench.run --sizes 100,1000 --concurrency 500
    .venv/bin/python -m bench.run --sizes 10000 --time-scale 0.1 --contenders fleet,sdk-tuned
    .venv/bin/python -m bench.run --sizes 1000 --contenders fleet,sdk-careful-c200,sdk-careful-c500
    .venv/bin/python -m bench.run --sizes 1000 --contenders fleet,fleet-temporal-w1
    .venv/bin/python -m bench.run --sizes 8000 --subscriptions 8 \
        --contenders fleet-temporal-w1,fleet-temporal-w2,fleet-temporal-w4

``fleet-temporal-w<K>``: production mode with K worker processes on a local Temporal dev
server (started per row, stopped by PID); client CPU is the workers' and the submitter's sum,
client RSS the largest worker's. With ``--subscriptions S`` the lower bound is the largest of
the subscriptions' own bounds (each has its own ARM buckets, and its share of the window).

Contenders: ``fleet``; ``sdk-default`` (azure-core's retries: gives up on repeated 429s);
``sdk-tuned`` (default retries, a 1 s polling interval); ``sdk-careful-c<C>`` (retry_total and
retry_status raised to 20, concurrency C: the peer a careful engineer would write, and the one
the README compares with). Every SDK figure runs against the simulator's LRO Retry-After of
1 s, which drives the SDK's poller; real ARM's value is not confirmed.

Every row is stamped with what makes it comparable: the machine (cores, CPU model), the load
average before and after, the commit (and whether the tree was dirty) and the date.

For each size and contender it starts a fresh simulator (``fleet sim serve`` with Azurite and
TLS, ARM's real buckets, the profile's execution times, same seed so the same draws), runs the
contender as a child process, reads the simulator's request counters, stops the simulator and
prints one table row. Results are appended as JSON lines to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.lowerbound import drawn_execution_s, lower_bound_s
from bench.procs import PYTHON, REPO, ChildUsage, SimProcess, run_child

__all__ = ["CONTENDERS", "Row", "inventory_lower_bound", "main", "run_one"]

HERE = Path(__file__).resolve().parent
CONTENDERS = ("fleet", "sdk-default", "sdk-tuned", "sdk-careful-c200", "sdk-careful-c500")
_CAREFUL = re.compile(r"^sdk-careful-c(\d+)$")
_TEMPORAL = re.compile(r"^fleet-temporal-w(\d+)$")
CAREFUL_RETRY = 20
WRITE_BURST, WRITE_PER_S = 200.0, 10.0  # the profile's write bucket (arm-real.yaml)


@dataclass(frozen=True, slots=True)
class Row:
    contender: str
    machines: int
    concurrency: int
    time_scale: float
    makespan_s: float  # simulated seconds (wall / time_scale)
    process_wall_s: float
    lower_bound_s: float
    reads: int
    writes: int
    deletes: int
    throttled: int
    requests: int
    client_cpu_s: float
    client_peak_rss_bytes: int
    collected: int
    sim_cpu_s: float
    sim_peak_rss_bytes: int
    returncode: int
    # Production mode: CPU seconds of the submitter, then of each worker process.
    parts_cpu_s: tuple[float, ...] = ()
    # The test bed's CPU over the contender's run (since the stats reset), split between the
    # Python simulator and its Azurite child; None when the simulator did not report it.
    sim_only_cpu_s: float | None = None
    azurite_cpu_s: float | None = None
    # Simulated agents' blob writes that failed for good: outputs the test bed lost, not fleet.
    agent_writes_lost: int = 0

    @property
    def client_core_share(self) -> float:
        """The client's CPU over its own wall time: 1.0 is one core kept busy the whole run."""
        return self.client_cpu_s / self.process_wall_s if self.process_wall_s else float("nan")

    @property
    def ratio(self) -> float:
        return self.makespan_s / self.lower_bound_s if self.lower_bound_s else float("nan")

    def markdown(self) -> str:
        n = self.machines
        pct = 100.0 * self.throttled / self.requests if self.requests else 0.0
        return (
            f"| {self.contender} | {n:,} | {self.concurrency} | {self.time_scale:g} "
            f"| {self.makespan_s:.1f} | {self.lower_bound_s:.1f} | {self.ratio:.2f} "
            f"| {self.reads / n:.2f} | {self.writes / n:.2f} | {self.deletes / n:.2f} "
            f"| {self.throttled} ({pct:.1f} %) | {1000 * self.client_cpu_s / n:.1f} "
            f"| {self.client_peak_rss_bytes / 2**20:.0f} | {self.collected:,}/{n:,} "
            f"| {self.sim_cpu_s:.0f} | {_cpu_pair(self.sim_only_cpu_s, self.azurite_cpu_s)} "
            f"| {self.agent_writes_lost} | {100 * self.client_core_share:.0f} % |"
        )


def _cpu_pair(sim: float | None, azurite: float | None) -> str:
    if sim is None or azurite is None:
        return "n/a"
    return f"{sim:.0f} / {azurite:.0f}"



HEADER = (
    "| contender | N | C | scale | makespan s | lower bound s | ÷ LB | reads/machine "
    "| writes/machine | deletes/machine | 429s | client CPU s / 1,000 | client peak RSS MB "
    "| collected | sim+Azurite CPU s | sim / Azurite CPU s in the run | agent writes lost "
    "| client CPU ÷ wall |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _playbook(workdir: Path, concurrency: int) -> Path:
    text = (HERE / "playbooks" / "bench.yaml").read_text()
    text = re.sub(r"max_concurrency: .*", f"max_concurrency: {concurrency}", text)
    path = workdir / "bench.yaml"
    path.write_text(text)
    return path


def _iso_s(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _fleet_result(run_dir: Path) -> tuple[int, float | None]:
    """Outputs collected, and the run's own makespan (report.json started -> finished)."""
    if not (run_dir / "report.json").exists():
        return 0, None
    report = json.loads((run_dir / "report.json").read_text())
    run = report["run"]
    makespan = _iso_s(run["finished"]) - _iso_s(run["started"])
    return sum(
        1
        for row in report["rows"]
        if row["state"] == "succeeded" and row["output"]["source"] == "blob" and row["output"]["bytes"] > 0
    ), makespan


def run_one(
    contender: str,
    *,
    machines: int,
    concurrency: int,
    time_scale: float,
    seed: int,
    profile: Path,
    workdir: Path,
    lower_bound: float | None = None,
    cprofile: bool = False,
    subscriptions: int = 1,
    event_loop: str = "asyncio",
) -> Row:
    """One contender against a fresh simulator. Without ``lower_bound``, it is computed in
    the order of the inventory file the simulator wrote (the order both contenders use)."""
    workdir.mkdir(parents=True, exist_ok=True)
    careful = _CAREFUL.match(contender)
    if careful:  # the careful peer's concurrency is part of its name
        concurrency = int(careful.group(1))
    sim = SimProcess(
        machines=machines, profile=profile, time_scale=time_scale, seed=seed, workdir=workdir,
        subscriptions=subscriptions,
    )
    if lower_bound is None:
        lower_bound = inventory_lower_bound(sim.inventory, profile, machines=machines,
                                            seed=seed, concurrency=concurrency,
                                            subscriptions=subscriptions)  # fmt: skip
    env = dict(os.environ)
    env.update(
        FLEET_ARM_ENDPOINT=sim.arm_endpoint,
        FLEET_CA_FILE=sim.ca_file,
        FLEET_STORAGE_CONNECTION_STRING=sim.storage,
        FLEET_CREDENTIAL="dev",
    )
    timeout_s = max(600.0, 20 * lower_bound * time_scale)
    try:
        sim.reset_stats()
        with open(workdir / f"{contender}.log", "w", encoding="utf-8") as log:
            if contender == "fleet":
                run_dir = workdir / "run"
                playbook = _playbook(workdir, concurrency)
                if time_scale == 1.0:
                    argv = [PYTHON, "-m", "fleet", "--event-loop", event_loop, "run",
                            str(playbook), "-i", str(sim.inventory),
                            "--yes", "--run-dir", str(run_dir)]  # fmt: skip
                else:
                    argv = [PYTHON, "-m", "bench.fleet_driver", str(playbook), "-i",
                            str(sim.inventory), "--run-dir", str(run_dir),
                            "--time-scale", repr(time_scale),
                            "--event-loop", event_loop]  # fmt: skip
                if cprofile:  # the client under the stdlib profiler (slower: not for the table)
                    argv[1:1] = ["-m", "cProfile", "-o", str(workdir / "fleet.prof")]
                usage = run_child(argv, env=env, log=log, cwd=REPO, timeout_s=timeout_s)
                collected, makespan = _fleet_result(run_dir)
            elif _TEMPORAL.match(contender):
                from bench.temporal_bench import run_temporal

                run_dir = workdir / "run"
                usage = run_temporal(
                    workers=int(_TEMPORAL.match(contender).group(1)),  # type: ignore[union-attr]
                    playbook=_playbook(workdir, concurrency), inventory=sim.inventory,
                    run_dir=run_dir, time_scale=time_scale, env=env, workdir=workdir,
                    log=log, timeout_s=timeout_s)
                collected, makespan = _fleet_result(run_dir)
            else:
                listing = workdir / "machines.json"
                from fleet_sim.inventory_io import read_inventory

                listing.write_text(json.dumps([
                    {"name": m.name, "resource_group": m.resource_group,
                     "subscription_id": m.subscription_id, "location": m.location}
                    for m in read_inventory(sim.inventory)
                ]))  # fmt: skip
                result = workdir / f"{contender}.json"
                argv = [PYTHON, "-m", "bench.sdk_peer", "--machines", str(listing),
                        "--arm-endpoint", sim.arm_endpoint, "--ca-file", sim.ca_file,
                        "--storage", sim.storage, "--concurrency", str(concurrency),
                        "--result", str(result)]  # fmt: skip
                if contender == "sdk-tuned":
                    argv += ["--polling-interval", repr(1.0 * time_scale)]
                if careful:
                    argv += ["--retry", str(CAREFUL_RETRY)]
                usage = run_child(argv, env=env, log=log, cwd=REPO, timeout_s=timeout_s)
                data = json.loads(result.read_text()) if result.exists() else {}
                collected, makespan = data.get("collected", 0), data.get("makespan_s")
            stats = sim.stats()
            stats.pop("executions", None)  # one entry per machine: too long to keep
            (workdir / "sim-stats.json").write_text(json.dumps(stats, indent=1))
    finally:
        sim_usage = sim.stop()
    return _row(contender, machines, concurrency, time_scale, lower_bound, usage, stats,
                collected, sim_usage, makespan)  # fmt: skip


def inventory_lower_bound(
    inventory: Path, profile: Path, *, machines: int, seed: int, concurrency: int,
    subscriptions: int = 1,
) -> float:
    from fleet_sim.inventory_io import read_inventory

    listed = read_inventory(inventory)
    order = [m.resource_id for m in listed]
    executions = drawn_execution_s(profile, machines=machines, seed=seed, order=order,
                                   subscriptions=subscriptions)
    by_subscription: dict[str, list[float]] = {}
    for machine, seconds in zip(listed, executions, strict=True):
        by_subscription.setdefault(machine.subscription_id.lower(), []).append(seconds)
    return max(
        lower_bound_s(part, concurrency=max(1, concurrency * len(part) // len(executions)),
                      write_burst=WRITE_BURST, write_per_s=WRITE_PER_S)
        for part in by_subscription.values()
    )


def _row(
    contender: str,
    machines: int,
    concurrency: int,
    time_scale: float,
    lower_bound: float,
    usage: ChildUsage,
    stats: dict[str, Any],
    collected: int,
    sim_usage: ChildUsage,
    makespan: float | None,
) -> Row:
    by_method = stats["requests_by_method"]
    since = (stats.get("cpu_s") or {}).get("since_reset") or {}
    return Row(
        contender=contender,
        machines=machines,
        concurrency=concurrency,
        time_scale=time_scale,
        # The contender's own start-to-end (process start-up excluded), else the process's.
        makespan_s=(makespan if makespan is not None else usage.wall_s) / time_scale,
        process_wall_s=usage.wall_s,
        lower_bound_s=lower_bound,
        reads=int(by_method.get("GET", 0)),
        writes=int(by_method.get("PUT", 0)) + int(by_method.get("PATCH", 0)),
        deletes=int(by_method.get("DELETE", 0)),
        throttled=int(stats["throttled"]),
        requests=int(stats["requests"]),
        client_cpu_s=usage.cpu_s,
        client_peak_rss_bytes=usage.peak_rss_bytes,
        collected=collected,
        sim_cpu_s=sim_usage.cpu_s,
        sim_peak_rss_bytes=sim_usage.peak_rss_bytes,
        returncode=usage.returncode,
        parts_cpu_s=tuple(round(cpu, 2) for cpu, _ in usage.parts),
        sim_only_cpu_s=since.get("simulator"),
        azurite_cpu_s=since.get("azurite"),
        agent_writes_lost=int((stats.get("storage") or {}).get("failed", 0)),
    )


def run_context() -> dict[str, Any]:
    """What a reader needs to compare a row with another: machine, load, commit, date."""
    import platform
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def context_line(context: dict[str, Any]) -> str:
    load = ", ".join(f"{x:g}" for x in context["load_before"])
    dirty = " (dirty tree)" if context["dirty"] else ""
    return (f"{context['date']} · {context['cores']} cores, {context['cpu']} · Python "
            f"{context['python']} · commit {context['commit']}{dirty} · load average {load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="comma-separated N values")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subscriptions", type=int, default=1,
                        help="simulated subscriptions (each with its own ARM buckets)")
    parser.add_argument("--profile", type=Path, default=HERE / "profiles" / "arm-real.yaml")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "work")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "work" / "results.jsonl")
    parser.add_argument("--cprofile", action="store_true",
                        help="run fleet under cProfile (WORKDIR/fleet.prof); its row is not comparable")
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop"], default="asyncio",
                        help="fleet's event loop (uvloop: the `fast` extra)")
    args = parser.parse_args(argv)
    contenders = [c for c in args.contenders.split(",") if c]
    for c in contenders:
        if c not in CONTENDERS and not _CAREFUL.match(c) and not _TEMPORAL.match(c):
            parser.error(f"unknown contender {c!r} (expected {', '.join(CONTENDERS)})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    context = run_context()
    print(context_line(context) + f" · fleet's event loop {args.event_loop}", flush=True)
    print(HEADER, flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        for contender in contenders:
            stamp = time.strftime("%Y%m%dT%H%M%S")
            row = run_one(
                contender, machines=size, concurrency=args.concurrency,
                time_scale=args.time_scale, seed=args.seed, profile=args.profile,
                workdir=args.workdir / f"{size}-{contender}-{stamp}",
                cprofile=args.cprofile and contender == "fleet",
                subscriptions=args.subscriptions, event_loop=args.event_loop,
            )  # fmt: skip
            print(row.markdown(), flush=True)
            if row.parts_cpu_s:
                print(f"  CPU s: submitter {row.parts_cpu_s[0]:g}, workers "
                      + ", ".join(f"{cpu:g}" for cpu in row.parts_cpu_s[1:]), flush=True)
            after = os.getloadavg()
            with args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps({**asdict(row), "at": stamp, **context,
                                      "load_after": [round(x, 2) for x in after]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
