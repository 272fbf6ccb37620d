from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fleet.cli import main
from fleet.report import record_to_dict, write_reports

from .records import sample_record


def test_report_rebuilds_selected_formats(tmp_path: Path) -> None:
    write_reports(tmp_path, sample_record(), ["json"])
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--format", "html", "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [str(tmp_path / "report.html"), str(tmp_path / "summary.md")]
    assert not (tmp_path / "junit.xml").exists()


def test_report_all_with_recap(tmp_path: Path) -> None:
    write_reports(tmp_path, sample_record(), ["json"])
    result = CliRunner().invoke(main, ["report", str(tmp_path), "--recap"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "junit.xml").is_file() and (tmp_path / "report.html").is_file()
    assert "status: halted" in result.output


def test_missing_run_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "no such run folder" in result.output


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    doc = record_to_dict(sample_record())
    doc["schema_version"] = 2
    (tmp_path / "report.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "upgrade fleet" in result.output
    assert not (tmp_path / "report.html").exists()
