from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleet.cli import main

ROOT = Path(__file__).resolve().parents[2]
INV = str(ROOT / "inventory.example.yaml")
RUN = "20261126-014512-ab12"


def test_plan_json_is_byte_identical_for_same_run_id() -> None:
    args = ["plan", str(ROOT / "playbooks/seed-pki-endpoint.yaml"), "-i", INV, "--run-id", RUN,
            "--format", "json", "-e", "a=1", "-e", '{"b": 2}']
    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)  # stderr may warn that FLEET_RUNAS_PASSWORD is not set
    assert data["run_id"] == RUN
    assert data["jobs"][0]["machine"] == "2012DatacenterServer1"
    assert data["jobs"][0]["run_as_password"] == {"value": "***", "from": "env:FLEET_RUNAS_PASSWORD"}


def test_plan_text_and_limit() -> None:
    result = CliRunner().invoke(main, ["plan", str(ROOT / "playbooks/canary-rollout.yaml"), "-i",
                                       INV, "--run-id", RUN, "--limit", "linux"])
    assert result.exit_code == 0, result.output
    assert "wave 1/" in result.output and "web-win-01" not in result.output


def test_plan_text_is_compact_and_full_on_request() -> None:
    args = ["plan", str(ROOT / "playbooks/canary-rollout.yaml"), "-i", INV, "--run-id", RUN]
    compact = CliRunner().invoke(main, args)
    full = CliRunner().invoke(main, [*args, "--full"])
    assert compact.exit_code == 0 and full.exit_code == 0, compact.output + full.output
    jobs = full.stdout.count(": PUT /subscriptions/")
    # apply, verify and the rollback step, each for Windows and Linux: shown once, not per machine
    assert jobs == 18 and compact.stdout.count(": PUT /subscriptions/") == 6
    assert "the request above" in compact.stdout and "fleet plan --full" in compact.stdout
    assert len(compact.stdout.splitlines()) < len(full.stdout.splitlines()) / 2
    # every job still has its line, with what differs from its step's request
    assert sum(compact.stdout.count(f" / {step}") for step in ("apply:", "verify:", "restore:")) >= jobs


def test_plan_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    playbook = tmp_path / "pb.yaml"
    playbook.write_text("name: t\nhosts: all\nscrip: x\n")
    result = CliRunner().invoke(main, ["plan", str(playbook), "-i", INV])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and "pb.yaml:3: scrip: unknown key" in lines[0]
    assert "Traceback" not in result.output


def test_plan_empty_selection_exit_2() -> None:
    result = CliRunner().invoke(main, ["plan", str(ROOT / "playbooks/seed-pki-endpoint.yaml"),
                                       "-i", INV, "--limit", "linux"])
    assert result.exit_code == 2
    assert "no machine in common" in result.output


def test_inventory_table_and_json() -> None:
    table = CliRunner().invoke(main, ["inventory", "-i", INV, "--limit", "canary"])
    assert table.exit_code == 0, table.output
    assert "2012DatacenterServer1" in table.output and "2 machines" in table.output
    as_json = CliRunner().invoke(main, ["inventory", "-i", INV, "--format", "json",
                                        "--limit", "tag:role=db"])
    rows = json.loads(as_json.output)
    assert {r["name"] for r in rows} == {"legacy-sql01", "db-lnx-01"}
    assert rows[0]["vars"]["http_port"] == 1433


def test_inventory_missing_file_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["inventory", "-i", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "file not found" in result.output
