"""One production-mode benchmark row: a Temporal dev server, K worker processes, and the
submitter whose start-to-end is the row's process time. Every process is stopped by its PID."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from bench.procs import PYTHON, REPO, ChildUsage, _usage, run_child

__all__ = ["run_temporal"]


def run_temporal(*, workers: int, playbook: Path, inventory: Path, run_dir: Path, time_scale: float,
                 env: dict[str, str], workdir: Path, log: IO[str], timeout_s: float) -> ChildUsage:
    from fleet.production.devserver import start_dev_server

    server = start_dev_server(db_file=workdir / "temporal.sqlite", headless=True,
                              log_file=workdir / "temporal.log")
    procs: list[tuple[subprocess.Popen[str], float, IO[str]]] = []
    try:
        for k in range(workers):
            sink: IO[str] = open(workdir / f"worker-{k}.log", "w", encoding="utf-8")
            proc = subprocess.Popen(
                [PYTHON, "-m", "bench.temporal_driver", "worker", "--temporal", server.address,
                 "--time-scale", repr(time_scale)], cwd=REPO, env=env, stdout=sink, stderr=sink,
                text=True)
            procs.append((proc, time.monotonic(), sink))
        deadline = time.monotonic() + 120
        for k in range(workers):  # the harness waits for readiness; it measures nothing here
            while "worker ready" not in (workdir / f"worker-{k}.log").read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {k} did not start; see {workdir}")
                time.sleep(0.2)
        submitter = run_child(
            [PYTHON, "-m", "bench.temporal_driver", "submit", str(playbook), "-i", str(inventory),
             "--run-dir", str(run_dir), "--temporal", server.address,
             "--time-scale", repr(time_scale)], env=env, log=log, cwd=REPO, timeout_s=timeout_s)
    finally:
        usages = []
        for proc, started, handle in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            usages.append(_usage(proc.pid, started))
            handle.close()
        server.stop()
    log.write("workers: " + ", ".join(f"cpu {u.cpu_s:.1f}s rss {u.peak_rss_bytes >> 20} MB"
                                      for u in usages) + "\n")
    return ChildUsage(
        submitter.wall_s,
        submitter.cpu_s + sum(u.cpu_s for u in usages),
        max([submitter.peak_rss_bytes, *(u.peak_rss_bytes for u in usages)]),
        submitter.returncode,
        ((submitter.cpu_s, submitter.peak_rss_bytes),
         *((u.cpu_s, u.peak_rss_bytes) for u in usages)),
    )
