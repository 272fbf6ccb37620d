"""Fault matrix rows from issue #13 (A1-A3): ways a machine could run twice, each with the
simulator's truth (``/_sim/truth``, ``/_sim/stats`` executions) as the oracle.

* ``same-run-id-twice``: two ``fleet run`` processes at once, the same ``--run-id``, two run
  folders. Every run command must run exactly once, each run's report must describe its own
  executions (the other run's are not adopted, polled or deleted).
* ``put-2xx-garbage``: a loopback proxy in front of the simulator lets every run command PUT
  through but replaces ARM's 2xx answer with something fleet cannot read (HTML, ``[]``, another
  resource, truncated JSON, an empty 204...). fleet must reconcile with a GET, adopt, and never
  send again nor report "not sent".
* ``deleted-between-crash-and-resume``: the runner is SIGKILLed after a PUT
  (``after_put``), every run command is then deleted through ARM, and ``fleet resume`` finishes:
  no machine may run twice, and no row may claim an outcome the truth does not show.

Every fleet here is a real ``python -m fleet`` process over loopback; the simulator (and the
proxy) run in this process, so they outlive a killed runner, as ARM would.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from fleet.report.load import load_record
from fleet.types import JobResult, JobState
from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer
from fleet_sim.truth import truth_json
from tests.reliability.fault_matrix import (
    PROFILES,
    TIME_SCALE,
    MatrixRow,
    _expected_states,
    sim_config,
)
from tests.reliability.kill_resume import PLAYBOOK as KILL_PLAYBOOK
from tests.reliability.kill_resume import _fleet

__all__ = ["HOSTILE", "HOSTILE_ROWS", "GarbleProxy", "check_against_truth", "run_hostile_row"]

BASELINE = PROFILES[0]
# A roomy timeout (6 wall seconds at time scale 0.01): these rows are about running twice, and
# a busy 2-core machine running two fleets must not turn them into timeouts.
PLAYBOOK = {**KILL_PLAYBOOK, "timeout": "10m"}
# What the proxy answers instead of ARM's 2xx to a run command PUT, in turn.
GARBAGE: tuple[tuple[int, bytes], ...] = (
    (200, b"<html><body>502 gateway says hello</body></html>"),
    (201, b"[]"),
    (200, b'{"ok": true}'),
    (201, b'{"name": "someone-else", "properties": {"provisioningState": "Succeeded"}}'),
    (200, b'{"name": "fleet-truncated", "prop'),
    (204, b""),
    (200, b"\xff\xfe\x00garbage"),
)


class GarbleProxy:
    """A loopback HTTP proxy to the simulator that garbles the answers to run command PUTs."""

    def __init__(self, upstream: str, *, deletes_fail: bool = False) -> None:
        self._upstream = upstream.rstrip("/")
        self._deletes_fail = deletes_fail  # every DELETE goes through, but is answered 503
        self.garbled = 0
        self.endpoint = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GarbleProxy:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        keep = ("authorization", "content-type", "accept", "user-agent", "x-ms-client-request-id")
        headers = {k: v for k, v in request.headers.items() if k.lower() in keep}
        async with self._session.request(
            request.method, self._upstream + request.path_qs, data=body or None, headers=headers
        ) as answer:
            data = await answer.read()
            status = answer.status
            passed = {k: v for k, v in answer.headers.items()
                      if k.lower().startswith("x-ms-") or k.lower() in ("retry-after", "content-type")}
        if self._deletes_fail and request.method == "DELETE":
            self.garbled += 1
            return web.Response(status=503, body=b'{"error": {"code": "ServiceUnavailable"}}')
        if request.method == "PUT" and "/runcommands/" in request.path.lower() and 200 <= status < 300:
            status, data = GARBAGE[self.garbled % len(GARBAGE)]
            self.garbled += 1
        return web.Response(status=status, body=data, headers=passed)


def _env(endpoint: str, storage: str | None) -> dict[str, str]:
    env = {**os.environ, "FLEET_ARM_ENDPOINT": endpoint, "FLEET_CREDENTIAL": "dev",
           "FLEET_TIME_SCALE": str(TIME_SCALE)}
    env.pop("FLEET_STORAGE_CONNECTION_STRING", None)
    env.pop("FLEET_FAILPOINT", None)
    if storage:
        env["FLEET_STORAGE_CONNECTION_STRING"] = storage
    return env


def _setup(folder: Path, sim: SimServer) -> tuple[Path, Path]:
    inventory = folder / "inventory.yaml"
    write_inventory(sim.machines, inventory)
    playbook = folder / "playbook.yaml"
    playbook.write_text(yaml.safe_dump(PLAYBOOK))
    return inventory, playbook


def _run_args(playbook: Path, inventory: Path, run_dir: Path, run_id: str) -> list[str]:
    return ["run", str(playbook), "-i", str(inventory), "--yes", "--run-dir", str(run_dir),
            "--run-id", run_id]


def check_against_truth(
    results: Sequence[JobResult], truth: Mapping[str, Any], *, deleted_outside: bool = False
) -> tuple[int, list[str]]:
    """Misclassified rows: each row is checked against the truth of *its own* run command
    (by name). With ``deleted_outside``, a command someone deleted may be reported
    ``canceled`` (vanished) whatever it had done, or ``unknown``; never a claim the truth
    contradicts (success without an execution, "not run" after one)."""
    wrong = 0
    problems: list[str] = []
    machines: Mapping[str, list[dict[str, Any]]] = truth["machines"]
    for result in results:
        if result.rollback:
            continue
        history = [h for h in machines.get(result.machine.key, [])
                   if h["run_command"] == result.run_command_name]
        expected = _expected_states(history, (0,))
        if deleted_outside:
            expected = expected | {JobState.UNKNOWN}
            if history and history[-1]["kind"] == "executed":
                expected = expected | {JobState.CANCELED}
        if result.state not in expected:
            wrong += 1
            problems.append(f"misclassified {result.machine.name} ({result.run_command_name}): "
                            f"fleet {result.state}, truth "
                            f"{[(h['kind'], h['execution_state'], h['exit_code']) for h in history]}")
        elif result.state in (JobState.SUCCEEDED, JobState.FAILED) and history and (
            result.exit_code != history[-1]["exit_code"]
        ):
            wrong += 1
            problems.append(f"misclassified {result.machine.name}: exit {result.exit_code}, "
                            f"truth {history[-1]['exit_code']}")
    return wrong, problems


def _twice_by_name(truth: Mapping[str, Any]) -> tuple[int, list[str]]:
    """Machines on which one run command name executed more than once."""
    double: list[str] = []
    for machine, history in truth["machines"].items():
        names = Counter(h["run_command"] for h in history if h["kind"] == "executed")
        double += [f"executed {n}x: {machine} {name}" for name, n in names.items() if n > 1]
    return len({line.rsplit(" ", 1)[0] for line in double}), double


def _row(name: str, machines: int, started: float, results: Sequence[JobResult], double: int,
         wrong: int, problems: list[str], injected: Mapping[str, int]) -> MatrixRow:
    states = Counter(str(r.state) for r in results if not r.rollback)
    return MatrixRow(
        profile=name, machines=machines, double_executions=double, lost_outputs=0,
        explained_outputs=0, misclassified=wrong, run_time_s=round(time.monotonic() - started, 1),
        states=dict(sorted(states.items())), injected=dict(injected), problems=tuple(problems),
    )  # fmt: skip


async def same_run_id_twice(*, machines: int, storage: str | None, work_dir: Path) -> MatrixRow:
    started = time.monotonic()
    folder = work_dir / "same-run-id"
    folder.mkdir(parents=True)
    async with SimServer(sim_config(BASELINE, machines)) as sim:
        inventory, playbook = _setup(folder, sim)
        env = _env(sim.arm_endpoint, storage)
        log = folder / "fleet.log"
        dirs = [folder / "run-a", folder / "run-b"]
        codes = await asyncio.gather(*(
            _fleet(_run_args(playbook, inventory, d, "same-id"), env, log) for d in dirs))
        truth = truth_json(sim.state.launches)
        stats = sim.stats()
    problems = [f"fleet run exited {c}: {log.read_text()[-400:]}" for c in codes if c not in (0, 1)]
    results: list[JobResult] = []
    for run_dir in dirs:
        results += [r for r in load_record(run_dir).results if not r.rollback]
    double, lines = _twice_by_name(truth)
    over = [m for m, n in stats["executions"].items() if n > 2]
    double += len(over)
    problems += lines + [f"executed more than once per run: {m}" for m in over]
    wrong, found = check_against_truth(results, truth)
    by_machine: dict[str, set[str]] = {}
    for result in results:
        by_machine.setdefault(result.machine.key, set()).add(result.run_command_name)
    shared = [k for k, names in by_machine.items() if len(names) != 2]
    problems += [f"both runs used one run command name on {k}" for k in shared] + found
    return _row("same run id twice, two run folders", machines, started, results, double,
                wrong + len(shared) + (1 if any(c not in (0, 1) for c in codes) else 0), problems,
                {"runs": 2, "executions": int(stats["executions_total"])})


async def put_2xx_garbage(*, machines: int, storage: str | None, work_dir: Path) -> MatrixRow:
    started = time.monotonic()
    folder = work_dir / "garbage"
    folder.mkdir(parents=True)
    async with SimServer(sim_config(BASELINE, machines)) as sim, GarbleProxy(sim.arm_endpoint) as proxy:
        inventory, playbook = _setup(folder, sim)
        log = folder / "fleet.log"
        run_dir = folder / "run"
        code = await _fleet(_run_args(playbook, inventory, run_dir, "garbage"),
                            _env(proxy.endpoint, storage), log)
        truth = truth_json(sim.state.launches)
        stats = sim.stats()
    problems = [] if code in (0, 1) else [f"fleet run exited {code}: {log.read_text()[-400:]}"]
    results = [r for r in load_record(run_dir).results if not r.rollback]
    executions = {k.lower(): v for k, v in stats["executions"].items()}
    double = sum(1 for v in executions.values() if v > 1)
    problems += [f"executed {v}x: {k}" for k, v in executions.items() if v > 1]
    wrong, found = check_against_truth(results, truth)
    retry = {line for line in (run_dir / "retry.txt").read_text().splitlines() if not line.startswith("#")}
    ran_ok = {r.machine.name for r in results if r.state == JobState.SUCCEEDED}
    bad_retry = sorted(retry & ran_ok)
    problems += [f"retry.txt names a machine that succeeded: {m}" for m in bad_retry] + found
    return _row("PUT answered 2xx with garbage (proxy)", machines, started, results, double,
                wrong + len(bad_retry) + (0 if code in (0, 1) else 1), problems,
                {"garbled_puts": proxy.garbled, "executions": int(stats["executions_total"])})


async def _delete_all_run_commands(sim: SimServer) -> int:
    """What someone with ARM access does between the crash and the resume."""
    deleted = 0
    headers = {"Authorization": "Bearer fleet-dev-token"}
    api = "api-version=2025-01-13"
    async with aiohttp.ClientSession(headers=headers) as session:
        for machine in sim.machines:
            base = f"{sim.arm_endpoint}{machine.resource_id}/runCommands"
            async with session.get(f"{base}?{api}") as answer:
                names = [item["name"] for item in (await answer.json()).get("value", [])]
            for name in names:
                async with session.delete(f"{base}/{name}?{api}") as answer:
                    deleted += answer.status in (200, 202, 204)
    return deleted


async def deleted_between_crash_and_resume(
    *, machines: int, storage: str | None, work_dir: Path
) -> MatrixRow:
    started = time.monotonic()
    folder = work_dir / f"deleted-{'blob' if storage else 'nostorage'}"
    folder.mkdir(parents=True)
    point = f"after_put:{max(3, machines // 3)}"
    async with SimServer(sim_config(BASELINE, machines)) as sim:
        inventory, playbook = _setup(folder, sim)
        env = _env(sim.arm_endpoint, storage)
        log = folder / "fleet.log"
        run_dir = folder / "run"
        first = await _fleet(_run_args(playbook, inventory, run_dir, "deleted"),
                             {**env, "FLEET_FAILPOINT": point}, log)
        deleted = await _delete_all_run_commands(sim)
        resumed = await _fleet(["resume", str(run_dir)], env, log)
        truth = truth_json(sim.state.launches)
        stats = sim.stats()
    broken = []
    if first != -9:
        broken.append(f"the runner was not killed at {point} (exit {first})")
    if resumed not in (0, 1):
        broken.append(f"fleet resume exited {resumed}: {log.read_text()[-400:]}")
    results = [r for r in load_record(run_dir).results if not r.rollback]
    executions = {k.lower(): v for k, v in stats["executions"].items()}
    double = sum(1 for v in executions.values() if v > 1)
    problems = broken + [f"executed {v}x: {k}" for k, v in executions.items() if v > 1]
    wrong, found = check_against_truth(results, truth, deleted_outside=True)
    unknown = {r.machine.name for r in results if r.state == JobState.UNKNOWN}
    retry = {line for line in (run_dir / "retry.txt").read_text().splitlines() if not line.startswith("#")}
    leaked = sorted(retry & unknown)
    problems += [f"retry.txt names a machine whose outcome is unknown: {m}" for m in leaked] + found
    storage_word = "output blob as witness" if storage else "no storage"
    return _row(f"run commands deleted between crash and resume ({storage_word})", machines,
                started, results, double, wrong + len(leaked) + (1 if broken else 0), problems,
                {"killed": 1 if first == -9 else 0, "deleted": deleted,
                 "executions": int(stats["executions_total"])})


async def _deleted_no_storage(*, machines: int, storage: str | None, work_dir: Path) -> MatrixRow:
    return await deleted_between_crash_and_resume(machines=machines, storage=None, work_dir=work_dir)


HOSTILE_ROWS = {
    "same-run-id-twice": same_run_id_twice,
    "put-2xx-garbage": put_2xx_garbage,
    "deleted-between-crash-and-resume": deleted_between_crash_and_resume,
    "deleted-between-crash-and-resume-no-storage": _deleted_no_storage,
}
HOSTILE = tuple(HOSTILE_ROWS)


async def run_hostile_row(name: str, *, machines: int, storage: str | None, work_dir: Path) -> MatrixRow:
    row: MatrixRow = await HOSTILE_ROWS[name](machines=machines, storage=storage, work_dir=work_dir)
    return row


def dump(row: MatrixRow) -> str:
    return json.dumps({"profile": row.profile, "double": row.double_executions,
                       "misclassified": row.misclassified, "states": dict(row.states),
                       "injected": dict(row.injected)})
