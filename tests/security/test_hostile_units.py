"""Issue #13 items that need more than one CLI call each: a keyed group named like a machine
(D10), terminal escapes in the live progress lines (D12), SIGTERM before the engine starts and a
damaged journal row (E16), endless files behind ``secret("file:...")`` (E14)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fleet.engine.events import JobEvent
from fleet.engine.progress import Progress
from fleet.errors import InventoryError, SecretError
from fleet.inventory.loader import build_inventory
from fleet.inventory.sources.model import Discovered
from fleet.secrets import resolve_secret
from fleet.termtext import clean
from fleet.types import JobState, SecretRef
from tests.fixtures.sim import SimFactory

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"


def _machine(name: str, **tags: str) -> Discovered:
    return Discovered(SUB, "rg", name, "eastus", "linux", tags=tags, source="arm:test")


@pytest.mark.parametrize("attacker_first", [True, False], ids=["attacker-first", "victim-first"])
def test_a_keyed_group_named_like_a_machine_is_an_error(attacker_first: bool) -> None:
    attacker, victim = _machine("attacker", evil="01"), _machine("evil_01")
    machines = [attacker, victim] if attacker_first else [victim, attacker]
    with pytest.raises(InventoryError, match=r"keyed group 'evil_01'.*has the name of"):
        build_inventory(None, discovered=machines)
    # without the collision both machines are there, under their own names
    inventory = build_inventory(None, discovered=[attacker, _machine("web-1")])
    assert {h.name for h in inventory.hosts} == {"attacker", "web-1"}


def test_progress_lines_never_carry_terminal_escapes() -> None:
    out = io.StringIO()
    progress = Progress(out, live=False, verbose=2)
    hostile = "web-1\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\u202e"
    progress(JobEvent(hostile, "main", JobState.FAILED, 1, "died: \x1b[31mred\x9b", False))
    progress.close()
    text = out.getvalue()
    assert "web-1" in text and "main: failed" in text
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f or c == "\u202e"
                   for c in text), repr(text)
    assert clean("a\tb\nc") == "a\tb\nc" and clean("a\nb", single_line=True) == "a\\x0ab"


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "loop", "big"])
def test_secret_files_are_bounded(target: str, tmp_path: Path) -> None:
    path = tmp_path / "s"
    if target == "fifo":
        os.mkfifo(path)
    elif target == "loop":
        os.symlink(tmp_path / "t", path)
        os.symlink(path, tmp_path / "t")
    elif target == "big":
        path.write_bytes(b"x" * (64 * 1024 + 1))
    else:
        path = Path(target)
    with pytest.raises(SecretError) as caught:
        resolve_secret(SecretRef("file", str(path)))
    assert "xxxx" not in str(caught.value)


def _sigterm_handled(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:"))
                 .split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def test_sigterm_while_planning_exits_130(tmp_path: Path) -> None:
    """SIGTERM while the inventory is still loading means "interrupted" (130), not 143."""
    hosts = {f"h{i}": {} for i in range(30000)}
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump({"all": {
        "vars": {"subscription_id": SUB, "resource_group": "rg", "location": "eastus",
                 "os_type": "linux"}, "hosts": hosts}}))
    (tmp_path / "pb.yaml").write_text("name: p\nhosts: all\nscript: echo\n")
    process = subprocess.Popen([sys.executable, "-m", "fleet", "plan", "pb.yaml", "-i", "inv.yaml"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60  # a hang guard: the handler is installed at start-up
        while not _sigterm_handled(process.pid):
            assert process.poll() is None, "finished before SIGTERM could be sent"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode == 0:
        pytest.skip("the plan finished before the signal arrived (a very fast machine)")
    assert process.returncode == 130, stderr
    assert stderr.decode().strip() == "fleet: interrupted"


async def test_a_damaged_journal_row_is_one_line_not_a_traceback(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    from fleet.engine.session import execute_plan
    from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan

    sim = await sim_factory(machines=2)
    run_dir = tmp_path / "run"
    await execute_plan(make_plan(machines_of(sim)), connection=connection(sim, None),
                       run_dir=run_dir, options=FAST_OPTIONS)  # fmt: skip
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        db.execute("UPDATE jobs SET machine_json = '{}'")
    for command in (["status", str(run_dir)], ["report", str(run_dir)],
                    ["resume", str(run_dir)]):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleet", *command, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT), "FLEET_ARM_ENDPOINT": sim.arm_endpoint},
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        text = stderr.decode()
        assert "Traceback" not in text + stdout.decode(), (command, text)
        assert process.returncode == 2, (command, process.returncode, text)
        assert text.count("\n") == 1 and "journal is damaged" in text, (command, text)
