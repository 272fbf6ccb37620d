"""`fleet demo` works from a clone: simulator with its own Azurite over TLS, a real rollout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_runs_a_rollout_and_says_nothing_ran_twice(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "fleet", "demo", "--machines", "40", "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 machines run twice" in result.stdout
    if result.returncode == 1:  # the demo's fleet fails on purpose, and the demo says so
        assert "exits 1 on purpose" in result.stdout
    assert f"report: {run_dir / 'report.html'}" in result.stdout
    report = json.loads((run_dir / "report.json").read_text())
    assert report["run"]["storage"] is True
    rows = report["rows"]
    assert rows and all(row["os_type"] == "windows" for row in rows)
    succeeded = [row for row in rows if row["state"] == "succeeded"]
    assert succeeded and all(row["output"]["source"] == "blob" for row in succeeded)
    assert b"demo-Passw0rd!" not in b"".join(p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
