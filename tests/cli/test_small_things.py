"""The small things a new user trips over (real CLI processes): patterns that say why they
selected nothing, --help that names the environment, an approval message with the real path,
plurals, owner-only run files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from fleet_sim.azurite import Azurite
from tests.cli.helpers import ROOT, fleet, inventory, playbook, sim_env
from tests.fixtures.sim import SimFactory

INV = str(ROOT / "inventory.example.yaml")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    return subprocess.run([sys.executable, "-m", "fleet", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_patterns_explain_what_they_did_not_select() -> None:
    empty = cli("inventory", "-i", INV, "--limit", "")
    assert empty.returncode == 2 and "empty host pattern" in empty.stderr  # as plan and run
    case = cli("inventory", "-i", INV, "--limit", "tag:env=Prod")
    assert case.returncode == 2
    assert "tag values are case-sensitive" in case.stderr and "tag:env=prod" in case.stderr
    amp = cli("inventory", "-i", INV, "--limit", "linux&windows")
    assert amp.returncode == 2 and "did you mean 'linux:&windows'?" in amp.stderr


def test_help_names_the_environment_and_exit_codes() -> None:
    top = cli("--help")
    for name in ("FLEET_ARM_ENDPOINT", "FLEET_CREDENTIAL", "FLEET_CA_FILE",
                 "FLEET_STORAGE_CONNECTION_STRING", "FLEET_TIME_SCALE", "NO_COLOR", "9 run-wide"):
        assert name in top.stdout, name
    assert all(len(line) <= 80 for line in top.stdout.splitlines())
    run = cli("run", "--help")
    assert "env var: FLEET_ARM_ENDPOINT" in " ".join(run.stdout.split())


async def test_approval_message_names_the_folder_plurals_and_private_files(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(tls=True)
    env = sim_env(sim, storage=azurite.connection_string)
    rollout = "rollout:\n  waves: [1, \"100%\"]\n  approve: true\n"
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, extra=rollout)
    run_dir = tmp_path / "run"
    ran = await fleet("run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(run_dir), env=env)
    assert ran.code == 3, ran.both  # waiting at the gate
    assert f"fleet resume {run_dir} --approve" in ran.out and "RUN_DIR" not in ran.both
    assert "started, 1 machine\n" in ran.out and "1 machines" not in ran.both
    for path in run_dir.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, (path, oct(mode))
        elif path.name != "runner.lock":
            assert mode == 0o600, (path, oct(mode))
