"""The fault matrix in CI: every profile at 60 machines must be clean (the documented command
runs 500). Each row also checks that its fault really fired, so a broken knob cannot pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.arm.credentials import DevTokenProvider
from fleet_sim.azurite import Azurite
from tests.reliability.fault_matrix import PROFILES, MatrixRow, format_table, run_profile

MACHINES = 60

# Which counter proves the profile's fault happened (None: latency/slow blobs are not counted).
FIRED = {
    "baseline": None,
    "429-storm": "429",
    "5xx-and-drops": "http_500",
    "latency-p99-5s": None,
    "slow-blobs": None,
    "token-expiry": "401",
    "stuck-1pct": None,  # 1 % of 60 may draw none; the 500-machine table shows them
    "disconnect-1pct": None,
    "blob-fail-1pct": None,
}


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
async def test_profile_is_clean(profile, azurite: Azurite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    row = await run_profile(
        profile, machines=MACHINES, storage=azurite.connection_string, work_dir=tmp_path
    )
    assert row.clean, "\n".join(row.problems)
    assert sum(row.states.values()) == MACHINES
    # The agent profile fails 5 % of scripts with exit 3: fleet must report those as failed.
    assert row.states.get("failed", 0) >= 1
    counter = FIRED[profile.name]
    if counter is not None:
        assert row.injected.get(counter, 0) > 0, row.injected


async def test_token_expiry_refresh_mints_a_new_dev_token() -> None:
    provider = DevTokenProvider()
    first = await provider.get_token()
    again = await provider.get_token()
    refreshed = await provider.get_token(force_refresh=True)
    assert first == again and refreshed != first
    assert await provider.get_token() == refreshed
    assert provider.refreshes == 1


def test_table_has_one_line_per_row() -> None:
    rows = [MatrixRow("a", 5, 0, 1, 2, 0, 1.25, {"succeeded": 5}, {"429": 3})]
    table = format_table(rows).splitlines()
    assert len(table) == 3
    assert table[2] == "| a | 5 | 0 | 1 | 2 | 0 | 1.2 | succeeded 5 | 429 3 |"
    assert not rows[0].clean


@pytest.mark.parametrize("index", range(len(PROFILES)), ids=[p.name for p in PROFILES])
async def test_killed_and_resumed_profile_is_clean(index: int, azurite: Azurite, tmp_path: Path) -> None:
    from tests.reliability.kill_resume import run_killed_profile

    row = await run_killed_profile(
        PROFILES[index], index=index, machines=MACHINES, storage=azurite.connection_string,
        work_dir=tmp_path,
    )
    assert row.injected["killed"] == 1, row.problems
    assert row.clean, "\n".join(row.problems)
    assert sum(row.states.values()) == MACHINES


def test_the_oracle_accepts_a_timeout_only_when_no_answer_showed_the_end() -> None:
    from fleet.types import JobState
    from tests.reliability.fault_matrix import _expected_states

    ended = {"kind": "executed", "execution_state": "Succeeded", "exit_code": 0,
             "end_reported": False}  # fmt: skip
    # It ended after fleet's last look (between its last GET and its DELETE): a timeout is right.
    assert _expected_states([ended], (0,)) == {JobState.SUCCEEDED, JobState.TIMED_OUT, JobState.STUCK}
    # A GET showed the end before the DELETE: fleet must report what it was shown.
    assert _expected_states([{**ended, "end_reported": True}], (0,)) == {JobState.SUCCEEDED}
    failed = {**ended, "exit_code": 3, "end_reported": True}
    assert _expected_states([failed], (0,)) == {JobState.FAILED}
