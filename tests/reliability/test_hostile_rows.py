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
