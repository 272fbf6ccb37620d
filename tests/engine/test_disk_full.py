"""A run folder that fills up stops the run cleanly: journal intact, resumable, no result
without its output. Uses a real tiny tmpfs (needs root, as on CI; skipped elsewhere)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.engine.session import execute_plan
from fleet.errors import RunStoppedError
from fleet.journal import Journal
from fleet.types import JobState
from fleet_sim import agent_profile as ap
from fleet_sim.azurite import Azurite
from fleet_sim.config import MachineOverride
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.fixtures.sim import FAST, SimFactory


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount_point)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False, capture_output=True)


async def test_disk_full_stops_cleanly_and_resumes(
    sim_factory: SimFactory, azurite: Azurite, small_disk: Path
) -> None:
    agent = ap.AgentProfile(defaults=ap.Behaviour(duration_s=ap.Distribution(1.0), output_bytes=150_000))
    healthy = MachineOverride(name_glob="*", status="Connected", agent_version="1.45.0")
    sim = await sim_factory(machines=8, profile=dataclasses.replace(FAST.profile, agent=agent, overrides=(healthy,)))
    plan = make_plan(machines_of(sim))
    run_dir = small_disk / "run"
    conn = connection(sim, azurite.connection_string)
    with pytest.raises(RunStoppedError, match="free space"):
        await execute_plan(plan, connection=conn, run_dir=run_dir, options=FAST_OPTIONS)
    journal = Journal.open(run_dir / "journal.sqlite")  # intact and readable
    rows = list(journal.jobs())
    journal.close()
    for row in rows:
        if row.state == JobState.SUCCEEDED:  # never a result without its output
            assert (run_dir / (row.output.path or "missing")).stat().st_size == row.output.size_bytes
    assert any(not row.state.terminal for row in rows)
    await asyncio.to_thread(
        subprocess.run, ["mount", "-o", "remount,size=20m", str(small_disk)], check=True
    )
    record = await execute_plan(plan, connection=conn, run_dir=run_dir, options=FAST_OPTIONS, resume=True)
    assert record.exit_code == 0, [(r.machine.name, r.state, r.reason) for r in record.results]
    assert all(v == 1 for v in sim.stats()["executions"].values())
    for result in record.results:  # every output is there, whole
        assert result.output.path is not None and not result.output.truncated
        data = (run_dir / result.output.path).read_bytes()
        assert len(data) == result.output.size_bytes >= 150_000
        assert data.startswith(f"fleet-sim: machine={result.machine.name} ".encode())
        assert data.rstrip().endswith(b"fleet-sim: exit=0")
