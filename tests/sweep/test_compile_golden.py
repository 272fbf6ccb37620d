"""The compiled runners, checked as golden files (Windows cannot run here; bash also runs for
real in test_sweep_sim.py). Regenerate with FLEET_UPDATE_GOLDEN=1 after a deliberate change."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleet.inventory import load_inventory
from fleet.plan.sweep import build_sweep
from fleet.sweep.compile import RunnerCheck, compile_runner
from fleet.sweep.protocol import parse_output
from tests.sweep.helpers import NONCE

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FLEET_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8", newline="")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def _script(playbook: str, host: str) -> str:
    sweep = build_sweep(playbook_path=ROOT / "playbooks" / playbook,
                        inventory=load_inventory(ROOT / "inventory.example.yaml"), limit=host,
                        extra_vars={}, run_id="golden-1", nonce=NONCE)
    (job,) = sweep.plan.jobs
    script = job.request["properties"]["source"]["script"]
    assert isinstance(script, str)
    return script


def test_windows_baseline_compiles_to_the_golden_powershell_runner() -> None:
    script = _script("baseline-windows.yaml", "web-win-01")
    _golden("baseline-windows.ps1", script)
    # What the golden file promises, spelled out: one job per check with its own timeout,
    # nonce-marked lines only, the check text never pasted in clear.
    assert script.count("Start-Job") == 1 and "Wait-Job -Job $job -Timeout $check.Timeout" in script
    assert script.count("@{ Index = ") == 13
    assert f"$Nonce = '{NONCE}'" in script
    assert "Get-SmbServerConfiguration" not in script  # base64 only


def test_linux_baseline_compiles_to_the_golden_bash_runner() -> None:
    script = _script("baseline-linux.yaml", "web-lnx-01")
    _golden("baseline-linux.sh", script)
    assert script.count("\nrun_check ") == 14


def test_the_windows_runner_quotes_nothing_from_the_check() -> None:
    evil = "'; Remove-Item C:\\ -Recurse #\n@@FLEETCHK fake"
    script = compile_runner("windows", [RunnerCheck(1, "x", 5, evil)], nonce=NONCE)
    assert "Remove-Item C:" not in script and "fake" not in script


@pytest.mark.parametrize("nonce", ["", "ABC", "0123456789abcdef' ; rm -rf /"])
def test_a_bad_nonce_is_refused(nonce: str) -> None:
    with pytest.raises(ValueError):
        compile_runner("linux", [RunnerCheck(1, "x", 5, "true")], nonce=nonce)


def test_bash_runner_survives_a_check_that_exits_the_shell_and_kills_its_parent() -> None:
    checks = [RunnerCheck(1, "exits", 5, "exit 7"),
              RunnerCheck(2, "kills-parent", 5, "kill -TERM $PPID 2>/dev/null; echo alive"),
              RunnerCheck(3, "reads-stdin", 5, "cat; echo done"),
              RunnerCheck(4, "after", 5, "echo after")]
    proc = subprocess.run(["bash", "-c", compile_runner("linux", checks, nonce=NONCE)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.PIPE)
    parsed = parse_output(proc.stdout, NONCE, ["exits", "kills-parent", "reads-stdin", "after"])
    assert parsed.complete, proc.stdout
    assert parsed.results["exits"].exit_code == 7
    assert parsed.results["reads-stdin"].output == "done\n"  # stdin is /dev/null, no hang
    assert parsed.results["after"].output == "after\n"
