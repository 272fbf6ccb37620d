"""``fleet sweep`` and ``fleet sweep diff`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleet.cli import main
from fleet.sweep.history import HistoryStore
from fleet.sweep.model import Status
from fleet.sweep.writers import sweep_json
from tests.sweep.test_loader_history_writers import matrix

ROOT = Path(__file__).resolve().parents[2]
INV = str(ROOT / "inventory.example.yaml")


def write(path: Path, run_id: str, statuses: list[Status]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "compliance.json").write_text(json.dumps(sweep_json(matrix(run_id, {"a": statuses}),
                                                                None)))
    return path


def test_diff_exits_6_on_newly_failing_and_reads_run_folders(tmp_path: Path) -> None:
    before = write(tmp_path / "r1", "run-1", [Status.PASS, Status.PASS])
    after = write(tmp_path / "r2", "run-2", [Status.PASS, Status.FAIL])
    result = CliRunner().invoke(main, ["sweep", "diff", str(before), str(after)])
    assert result.exit_code == 6, result.output
    assert "newly failing: a tls (pass -> fail)" in result.output
    back = CliRunner().invoke(main, ["sweep", "diff", str(after), str(before), "--json"])
    assert back.exit_code == 0
    assert json.loads(back.output)["newly_passing"][0]["check"] == "tls"


def test_diff_by_run_id_from_history(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h")
    store.save(matrix("run-1", {"a": [Status.PASS, Status.PASS]}))
    store.save(matrix("run-2", {"a": [Status.PASS, Status.PASS]}))
    result = CliRunner().invoke(main, ["sweep", "diff", "run-1", "run-2", "--history",
                                       str(tmp_path / "h")])
    assert result.exit_code == 0, result.output
    assert "0 newly failing" in result.output


def test_diff_of_a_file_that_is_not_a_matrix_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    result = CliRunner().invoke(main, ["sweep", "diff", str(tmp_path / "x.json"),
                                       str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "not a sweep matrix" in result.output


def test_a_playbook_without_checks_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sweep", str(ROOT / "playbooks/seed-pki-endpoint.yaml"),
                                       "-i", INV, "--credential", "dev"])
    assert result.exit_code == 2 and "not a sweep" in result.output


def test_a_locked_history_stops_the_sweep_before_anything_runs(tmp_path: Path) -> None:
    history = tmp_path / "h"
    with HistoryStore(history).locked("run-earlier"):
        result = CliRunner().invoke(main, [
            "sweep", str(ROOT / "playbooks/baseline-linux.yaml"), "-i", INV,
            "--history", str(history), "--run-dir", str(tmp_path / "run"),
            "--arm-endpoint", "http://127.0.0.1:9", "--credential", "dev"])
    assert result.exit_code == 8, result.output
    assert "another sweep is still running (pid" in result.output and "run-earlier" in result.output
    assert not (tmp_path / "run").exists()


def test_help_lists_the_exit_codes() -> None:
    result = CliRunner().invoke(main, ["sweep", "--help"])
    assert result.exit_code == 0 and "6  new drift" in result.output
    assert "sweep" in CliRunner().invoke(main, ["--help"]).output
