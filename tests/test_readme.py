"""The README is the manual: it is assembled from docs/readme/*.md and names every command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fleet.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def _assemble() -> str:
    spec = importlib.util.spec_from_file_location("build_readme", ROOT / "docs" / "build_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.assemble())


def test_readme_is_up_to_date_with_its_sections() -> None:
    assert (ROOT / "README.md").read_text(encoding="utf-8") == _assemble(), (
        "README.md is out of date: run python3 docs/build_readme.py"
    )


def test_readme_documents_every_command_and_exit_code() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"fleet {name}" in text, name
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 130 |"):
        assert code in text
    assert "./dev.sh demo" in text and "./dev.sh test" in text
