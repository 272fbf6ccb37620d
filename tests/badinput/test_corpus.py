"""The bad-input corpus: every case under ``cases/`` goes through the real CLI and must give its
documented exit code and exactly one line on stderr that names the file (and line or field
where there is one) with the expected message, and never a traceback.

A case is a folder: its input files plus ``case.yaml``::

    args: [plan, playbook.yaml, -i, inventory.yaml]   # the fleet command line, run in the folder
    exit: 2                                           # the exit code
    names: "playbook.yaml:4"                          # must appear: file, and line or field
    message: "unknown key"                            # must appear: what is wrong
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from fleet.cli import main

CASES = Path(__file__).parent / "cases"
ALL = sorted(p.name for p in CASES.iterdir() if (p / "case.yaml").is_file())


def test_corpus_is_large_enough() -> None:
    assert len(ALL) >= 40


@pytest.mark.parametrize("name", ALL)
def test_bad_input_gives_one_clear_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec: dict[str, Any] = yaml.safe_load((CASES / name / "case.yaml").read_text())
    work = tmp_path / name
    shutil.copytree(CASES / name, work)
    monkeypatch.chdir(work)
    monkeypatch.delenv("FLEET_H7_SURELY_UNSET", raising=False)
    result = CliRunner().invoke(main, spec["args"], catch_exceptions=True)
    stderr = result.stderr
    lines = stderr.splitlines()
    report = f"exit {result.exit_code}\nstderr: {stderr!r}\nstdout: {result.stdout[-400:]!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), report
    assert "Traceback" not in stderr + result.stdout, report
    assert result.exit_code == spec["exit"], report
    assert len(lines) == 1, report
    assert lines[0].startswith("fleet: error: "), report
    assert spec["names"] in lines[0], report
    assert spec.get("message", "").lower() in lines[0].lower(), report
