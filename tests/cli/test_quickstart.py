"""The README's "A first rollout against the simulator" block, pasted verbatim into bash: it
must work as written, say what it promised, leave nothing in the repository and no simulator
behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fleet_sim.azurite import find_azurite_main

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## A first rollout against the simulator"


def quickstart() -> tuple[str, str]:
    """The section's first ``sh`` block, and the result it says to expect."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    section = section[: section.index("\n## ", len(SECTION))]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    expected = re.search(r"Expected result[^`]*`([^`]+)`", section)
    assert block is not None and expected is not None
    return block.group(1), expected.group(1)


def test_readme_quickstart_block_runs_verbatim(tmp_path: Path) -> None:
    if find_azurite_main() is None:
        pytest.skip("Azurite is not installed (run `npm ci`)")
    block, expected = quickstart()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path)  # the simulator's folder lands here, where cleanup finds it
    before = {p.name for p in ROOT.iterdir()}
    try:
        result = subprocess.run(
            ["bash", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
    finally:
        for pid_file in tmp_path.glob("fleet-sim-*/sim.pid"):  # the block failed halfway
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
    out = result.stdout + result.stderr
    assert result.returncode == 0, out  # its last command, `fleet sim stop`, succeeded
    assert "Traceback" not in out and "not found" not in out, out
    assert expected in result.stdout, out
    assert "exit 4" in result.stdout, out
    assert "simulator stopped" in result.stderr, out
    folders = list(tmp_path.glob("fleet-sim-*"))
    assert len(folders) == 1
    assert (folders[0] / "run" / "report.html").is_file()
    assert not (folders[0] / "sim.pid").exists()
    assert {p.name for p in ROOT.iterdir()} - before == set()  # nothing written to the repo root
