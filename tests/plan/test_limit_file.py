"""`--limit @FILE` (e.g. a run's retry.txt) selects exactly the machines it names."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleet.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_limit_file_selects_named_machines(tmp_path: Path) -> None:
    retry = tmp_path / "retry.txt"
    retry.write_text("# machines of run x that did not succeed\n2012DatacenterServer1\n")
    result = CliRunner(env={"FLEET_RUNAS_PASSWORD": "x"}).invoke(main, [
        "plan", str(ROOT / "playbooks" / "seed-pki-endpoint.yaml"), "-i",
        str(ROOT / "inventory.example.yaml"), "--limit", f"@{retry}", "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    names = {m["name"] for wave in plan["waves"] for m in wave["machines"]}
    assert names == {"2012DatacenterServer1"}


def test_bad_limit_files_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("web1\nweb*\n")
    runner = CliRunner()
    for path, fragment in ((tmp_path / "missing.txt", "limit file not found"),
                           (empty, "names no machine"), (bad, f"{bad}:2: --limit")):
        result = runner.invoke(main, ["plan", str(ROOT / "playbooks" / "seed-pki-endpoint.yaml"),
                                      "-i", str(ROOT / "inventory.example.yaml"), "--limit", f"@{path}"])
        assert result.exit_code == 2 and fragment in result.output, result.output
