"""The code stays typed (mypy --strict on fleet/) and lint-clean (ruff), as STYLE.md asks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_ruff_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "fleet", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run([_tool("mypy"), "fleet"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_checks_the_fakes_against_the_seams() -> None:
    """The tests' fakes are annotated with the Protocols they stand in for (tests/unit/
    test_seams.py): a Protocol and a fake that drift apart fail here, not in a confusing way
    at run time."""
    files = ["tests/unit/test_seams.py", "tests/unit/engine/fakes.py", "tests/unit/arm/fakes.py"]
    result = subprocess.run([_tool("mypy"), *files], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
