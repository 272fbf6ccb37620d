"""The engine against the real simulator over loopback HTTP, with real blobs in Azurite."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.engine.session import execute_plan
from fleet.types import JobState, SecretRef
from fleet_sim.azurite import Azurite
from fleet_sim.fleetgen import version_tuple
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.fixtures.sim import SimFactory


async def test_every_machine_runs_once_and_output_is_collected(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=30)
    machines = machines_of(sim)
    plan = make_plan(
        machines,
        waves=[1, 9, 20],
        parameters=[("port", "443"), ("rule", "allow pki")],
        protected=[("token", SecretRef("literal", "s3cr3t-value"))],
    )
    run_dir = tmp_path / "run"
    record = await execute_plan(
        plan, connection=connection(sim, azurite.connection_string), run_dir=run_dir,
        options=FAST_OPTIONS,
    )
    stats = sim.stats()
    executions = {k.lower(): v for k, v in stats["executions"].items()}
    for result in record.results:
        expected = 0 if result.state == JobState.UNREACHABLE else 1
        assert executions.get(result.machine.key, 0) == expected, result
    unreachable = [r for r in record.results if r.state == JobState.UNREACHABLE]
    sim_unreachable = [
        m for m in sim.machines if m.status != "Connected" or version_tuple(m.agent_version) < (1, 33)
    ]
    assert len(unreachable) == len(sim_unreachable) > 0
    succeeded = [r for r in record.results if r.state == JobState.SUCCEEDED]
    assert len(succeeded) + len(unreachable) + sum(
        r.state == JobState.FAILED for r in record.results
    ) == 30
    for result in succeeded:
        assert result.output.source == "blob"
        text = (run_dir / result.output.path).read_text()
        assert f"machine={result.machine.name}" in text
        assert "param port=443" in text and "param rule=allow pki" in text
        assert "protected token=***" in text
    everything = b"".join(p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
    assert b"s3cr3t-value" not in everything
    assert (run_dir / "report.json").is_file() and (run_dir / "report.html").is_file()
    # the run commands were cleaned up
    assert stats["requests"]


async def test_reports_rebuild_from_the_journal(sim_factory: SimFactory, azurite: Azurite, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from fleet.cli import main

    sim = await sim_factory(machines=6)
    run_dir = tmp_path / "run"
    await execute_plan(make_plan(machines_of(sim)), connection=connection(sim, azurite.connection_string),
                       run_dir=run_dir, options=FAST_OPTIONS)
    before = json.loads((run_dir / "report.json").read_text())
    for name in ("report.json", "report.html", "junit.xml", "summary.md"):
        (run_dir / name).unlink()
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    after = json.loads((run_dir / "report.json").read_text())
    assert after["run"] == before["run"] and after["rows"] == before["rows"]
    assert after["groups"] == before["groups"] and after["summary"] == before["summary"]
    assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()


async def test_relative_run_dir_records_paths_relative_to_the_run_folder(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sim = await sim_factory(machines=3)
    record = await execute_plan(make_plan(machines_of(sim)), connection=connection(sim, azurite.connection_string),
                                run_dir=Path("runs") / "rel", options=FAST_OPTIONS)
    for result in record.results:
        if result.state == JobState.SUCCEEDED:
            assert result.output.path and not result.output.path.startswith("runs")
            assert (tmp_path / "runs" / "rel" / result.output.path).is_file()
