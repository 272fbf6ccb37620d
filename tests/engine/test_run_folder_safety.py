"""Issue #13 B5-B7: fleet never takes over a directory that is not its own, notices a run
folder deleted under it, names the file it cannot write, bounds every number, and writes
owner-only files whatever the umask. Real ``fleet`` processes against the simulator."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fleet_sim import agent_profile as ap
from fleet_sim.inventory_io import write_inventory
from fleet_sim.server import SimServer
from tests.reliability.fault_matrix import AGENT, FaultProfile, sim_config
from tests.reliability.hostile_rows import _env

MACHINES = 6
QUICK = dataclasses.replace(AGENT, defaults=dataclasses.replace(AGENT.defaults, failure_rate=0.0))
# "slow" scripts run 300 simulated s (3 wall s at time scale 0.01).
SLOW = dataclasses.replace(QUICK, rules=(ap.AgentRule(script=re.compile("slow"),
                                                      overrides=(("duration_s", ap.Distribution(300, 0)),)),))


def _files(tmp: Path, sim: SimServer, script: str = "echo hi") -> tuple[Path, Path]:
    inventory = tmp / "inventory.yaml"
    write_inventory(sim.machines, inventory)
    playbook = tmp / "playbook.yaml"
    playbook.write_text(yaml.safe_dump({"name": "safety", "hosts": "all", "script": script,
                                        "timeout": "10m"}))
    return playbook, inventory


async def _fleet(args: list[str], env: dict[str, str], umask: int | None = None) -> tuple[int, str, str]:
    def preexec() -> None:
        if umask is not None:
            os.umask(umask)

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fleet", *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, preexec_fn=preexec)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def sim() -> SimServer:  # type: ignore[misc]
    async with SimServer(sim_config(FaultProfile("quick", "", agent=SLOW), MACHINES)) as server:
        yield server


def _run(playbook: Path, inventory: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["run", str(playbook), "-i", str(inventory), "--yes", "--run-dir", str(run_dir), *extra]


async def test_a_directory_that_is_not_a_run_is_never_taken_over(sim: SimServer, tmp_path: Path) -> None:
    playbook, inventory = _files(tmp_path, sim)
    env = _env(sim.arm_endpoint, None)
    shared = tmp_path / "shared"  # like /tmp: not empty, sticky, world-writable
    shared.mkdir()
    (shared / "precious.txt").write_text("keep me")
    os.chmod(shared, 0o1777)
    code, _, err = await _fleet(_run(playbook, inventory, shared), env)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "not empty and not a fleet run folder" in err and str(shared) in err
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert sorted(os.listdir(shared)) == ["precious.txt"] and (shared / "precious.txt").read_text() == "keep me"

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    for target in (a_file, link):
        code, _, err = await _fleet(_run(playbook, inventory, target), env)
        assert code == 2 and str(target) in err, err
    assert a_file.read_text() == "x" and not os.listdir(tmp_path / "elsewhere")

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = await _fleet(_run(playbook, inventory, empty), env)
    assert code == 0, err
    assert (empty / "journal.sqlite").is_file()


async def test_log_file_that_cannot_be_written_is_named_before_the_run_starts(
    sim: SimServer, tmp_path: Path
) -> None:
    playbook, inventory = _files(tmp_path, sim)
    run_dir = tmp_path / "run"
    code, _, err = await _fleet(_run(playbook, inventory, run_dir, "--log-file", "/dev/full"),
                                _env(sim.arm_endpoint, None))
    assert code == 2 and "/dev/full" in err and len(err.strip().splitlines()) == 1, err
    assert not run_dir.exists()  # no half-started run
    assert sum(sim.stats()["executions"].values()) == 0


async def test_run_folder_deleted_mid_run_stops_and_says_so(sim: SimServer, tmp_path: Path) -> None:
    playbook, inventory = _files(tmp_path, sim, script="slow")
    run_dir = tmp_path / "run"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fleet", *_run(playbook, inventory, run_dir, "-vv"),
        env=_env(sim.arm_endpoint, None), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None and process.stderr is not None
    seen = []
    async for line in process.stdout:  # wait until machines are in flight
        seen.append(line.decode())
        if ": running" in seen[-1]:
            break
    shutil.rmtree(run_dir)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 130, (out.decode()[-1500:], err.decode()[-1500:])
    assert "deleted or replaced" in err.decode() and str(run_dir) in err.decode()
    assert not run_dir.exists()  # never recreated


async def test_files_are_owner_only_whatever_the_umask(sim: SimServer, tmp_path: Path) -> None:
    playbook, inventory = _files(tmp_path, sim)
    run_dir = tmp_path / "runs" / "one"
    log = tmp_path / "events.jsonl"
    code, _, err = await _fleet(_run(playbook, inventory, run_dir, "--log-file", str(log)),
                                _env(sim.arm_endpoint, None), umask=0)
    assert code == 0, err
    loose = []
    for path in [run_dir, log, *run_dir.rglob("*")]:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            loose.append(f"{path}: {oct(stat.S_IMODE(path.stat().st_mode))}")
    assert not loose, loose
    assert (run_dir / "output").is_dir() and any((run_dir / "output").iterdir())


BAD_NUMBERS = [
    ["run", "pb.yaml", "-i", "inv.yaml", "--max-output-bytes", "-1"],
    ["run", "pb.yaml", "-i", "inv.yaml", "--max-output-bytes", str(2**40)],
    ["run", "pb.yaml", "-i", "inv.yaml", "--seed", "-5"],
    ["plan", "pb.yaml", "-i", "inv.yaml", "--seed", str(2**64)],
    ["cancel", "somewhere", "--timeout", "0"],
    ["demo", "--machines", "0"],
    ["demo", "--time-scale", "inf"],
    ["demo", "--time-scale", "nan"],
    ["sim", "serve", "--machines", "-1"],
    ["sim", "serve", "--time-scale", "0"],
    ["sim", "serve", "--page-size", "0"],
]


@pytest.mark.parametrize("args", BAD_NUMBERS, ids=[" ".join(a[-2:]) for a in BAD_NUMBERS])
def test_every_number_is_bounded(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "fleet", *args], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, (result.stdout[-500:], result.stderr[-500:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and args[-2] in lines[0], lines


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


async def test_immutable_run_folder_is_named(sim: SimServer, tmp_path: Path) -> None:
    playbook, inventory = _files(tmp_path, sim)
    env = _env(sim.arm_endpoint, None)
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    if not _chattr("+i", frozen):
        pytest.skip("chattr +i is not available here")
    try:
        code, _, err = await _fleet(_run(playbook, inventory, frozen), env)
        assert code == 2 and str(frozen) in err and len(err.strip().splitlines()) == 1, err
    finally:
        _chattr("-i", frozen)

    # Frozen while it runs: the run stops with the reason, naming the folder.
    playbook, inventory = _files(tmp_path, sim, script="slow")
    run_dir = tmp_path / "run"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fleet", *_run(playbook, inventory, run_dir, "-vv"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    try:
        async for line in process.stdout:
            if ": running" in line.decode():
                break
        for path in (run_dir / "output", run_dir):
            _chattr("+i", path)
        out, err_bytes = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        for path in (run_dir, run_dir / "output"):
            _chattr("-i", path)
    assert process.returncode == 130, (out.decode()[-1500:], err_bytes.decode()[-1500:])
    assert str(run_dir) in err_bytes.decode(), err_bytes.decode()[-1500:]
