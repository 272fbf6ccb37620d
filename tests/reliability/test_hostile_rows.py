"""The fault matrix rows of issue #13 (A1-A3) in CI: zero machines executed twice, zero rows
that claim more than the simulator's truth, and each row's fault really fired."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet_sim.azurite import Azurite
from tests.reliability.hostile_rows import run_hostile_row

MACHINES = 30


async def test_same_run_id_in_two_run_folders_runs_each_once(azurite: Azurite, tmp_path: Path) -> None:
    row = await run_hostile_row("same-run-id-twice", machines=MACHINES,
                                storage=azurite.connection_string, work_dir=tmp_path)
    assert row.clean, "\n".join(row.problems)
    assert row.injected["executions"] == 2 * MACHINES  # each run ran each machine once
    assert sum(row.states.values()) == 2 * MACHINES


async def test_put_answered_2xx_garbage_is_reconciled(azurite: Azurite, tmp_path: Path) -> None:
    row = await run_hostile_row("put-2xx-garbage", machines=MACHINES,
                                storage=azurite.connection_string, work_dir=tmp_path)
    assert row.clean, "\n".join(row.problems)
    assert row.injected["garbled_puts"] >= MACHINES  # every PUT's answer was garbage
    assert row.injected["executions"] == MACHINES
    assert row.states.get("error", 0) == 0 and row.states.get("unknown", 0) == 0, row.states


@pytest.mark.parametrize("with_storage", [True, False], ids=["blob-witness", "no-storage"])
async def test_run_commands_deleted_between_crash_and_resume(
    azurite: Azurite, tmp_path: Path, with_storage: bool
) -> None:
    row = await run_hostile_row(
        "deleted-between-crash-and-resume", machines=MACHINES,
        storage=azurite.connection_string if with_storage else None, work_dir=tmp_path,
    )
    assert row.clean, "\n".join(row.problems)
    assert row.injected["killed"] == 1 and row.injected["deleted"] >= 1, row.injected
    assert sum(row.states.values()) == MACHINES


async def test_delete_answered_5xx_is_reconciled_with_a_get(tmp_path: Path) -> None:
    """Every DELETE takes effect but is answered 503 (after retries): fleet looks (GET) and
    records the run command as gone, instead of leaving it for a cleanup that is not needed."""
    import sqlite3

    import yaml

    from fleet_sim.inventory_io import write_inventory
    from fleet_sim.server import SimServer
    from tests.reliability.fault_matrix import PROFILES, sim_config
    from tests.reliability.hostile_rows import PLAYBOOK, GarbleProxy, _env
    from tests.reliability.kill_resume import _fleet

    async with SimServer(sim_config(PROFILES[0], 8)) as sim, \
            GarbleProxy(sim.arm_endpoint, deletes_fail=True) as proxy:
        inventory = tmp_path / "inventory.yaml"
        write_inventory(sim.machines, inventory)
        playbook = tmp_path / "playbook.yaml"
        playbook.write_text(yaml.safe_dump(PLAYBOOK))
        run_dir = tmp_path / "run"
        code = await _fleet(["run", str(playbook), "-i", str(inventory), "--yes", "--run-dir",
                             str(run_dir)], _env(proxy.endpoint, None), tmp_path / "fleet.log")
        assert code in (0, 1), (tmp_path / "fleet.log").read_text()[-1500:]
        assert proxy.garbled >= 8
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        uncleaned = db.execute("SELECT job_key FROM jobs WHERE cleaned = 0").fetchall()
    assert uncleaned == []
