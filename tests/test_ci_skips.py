"""Under CI=true a skip of a must-run test (SDK, spec, seed, conformance, Azurite) fails the run;
elsewhere it stays a skip. Runs a tiny project through a real pytest with tests/conftest.py's hooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CONFTEST = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from tests.conftest import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    (project / "tests" / "sim").mkdir(parents=True)
    (project / "tests" / "other").mkdir(parents=True)
    (project / "conftest.py").write_text(CONFTEST)
    (project / "tests" / "sim" / "test_sim_sdk.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_for_fleet')\n\ndef test_x():\n    pass\n"
    )
    (project / "tests" / "sim" / "test_sim_spec_schema.py").write_text(
        "import pytest\n\ndef test_y():\n    pytest.skip('spec absent')\n"
    )
    (project / "tests" / "other" / "test_free.py").write_text(
        "import pytest\n\ndef test_z():\n    pytest.skip('needs root')\n\n"
        "def test_azurite():\n    pytest.skip('Azurite is not installed (run `npm ci`)')\n"
    )
    return project


def _pytest(project: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--continue-on-collection-errors",
         "-o", "asyncio_default_fixture_loop_scope=function", "--rootdir", str(project), "-c", os.devnull, str(project / "tests")],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_outside_ci_they_skip(tmp_path: Path) -> None:
    done = _pytest(_project(tmp_path), "false")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 skipped" in done.stdout


def test_in_ci_a_must_run_skip_fails(tmp_path: Path) -> None:
    done = _pytest(_project(tmp_path), "true")
    assert done.returncode != 0, done.stdout + done.stderr
    out = done.stdout
    assert "must run in CI but was skipped" in out
    # The SDK module (skipped at collection), the spec test and the Azurite skip fail...
    assert "ERROR tests/sim/test_sim_sdk.py" in out
    assert "FAILED tests/sim/test_sim_spec_schema.py::test_y" in out
    assert "FAILED tests/other/test_free.py::test_azurite" in out
    # ...a test free to skip still skips.
    assert "SKIPPED [1] tests/other/test_free.py" in out and "needs root" in out


def test_ci_run_sets_ci() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert "export CI=true" in script
