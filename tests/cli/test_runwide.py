"""Run-wide causes stop ``fleet run`` before any machine is touched: one line naming the cause
and the fix, exit 9, no run folder, nothing sent (real CLI processes, simulator, Azurite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.engine.runwide import check_arm
from fleet.errors import AuthError, RunWideError
from fleet_sim.azurite import Azurite
from tests.cli.helpers import fleet, inventory, playbook, sim_env
from tests.engine.helpers import machines_of, make_plan
from tests.fixtures.sim import SimFactory

SECRET = 'run_as:\n  user: ops\n  password: \'{{ secret("env:FLEET_TEST_RUNAS") }}\'\n'


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("fleet: error:")]
    assert len(lines) == 1, text
    return lines[0]


def _sent(sim: object) -> int:
    stats = sim.stats()  # type: ignore[attr-defined]
    return int(stats["requests_by_method"].get("PUT", 0)) + int(stats["executions_total"])


async def test_missing_secret_is_a_plan_warning_and_stops_the_run(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = await sim_factory(tls=True)
    env = sim_env(sim)
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, extra=SECRET)
    planned = await fleet("plan", str(pb), "-i", str(inv), env=env)
    assert planned.code == 0, planned.both
    assert "warning: secret env:FLEET_TEST_RUNAS cannot be resolved" in planned.err
    ran = await fleet("run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(tmp_path / "r"), env=env)
    assert ran.code == 9, ran.both
    line = _one_line(ran.err)
    assert "FLEET_TEST_RUNAS" in line and "fix: export FLEET_TEST_RUNAS=" in line
    assert not (tmp_path / "r").exists() and _sent(sim) == 0


@pytest.mark.parametrize("case", ["http-against-tls", "no-ca", "closed-port"])
async def test_arm_unreachable_stops_at_once(sim_factory: SimFactory, tmp_path: Path, case: str) -> None:
    sim = await sim_factory(tls=True)
    env = sim_env(sim, FLEET_TIME_SCALE="1")  # real retry delays: the probe must not need them
    if case == "http-against-tls":
        env["FLEET_ARM_ENDPOINT"] = sim.arm_endpoint.replace("https:", "http:")
        fix = "is it https://?"
    elif case == "no-ca":
        del env["FLEET_CA_FILE"]
        fix = "--ca-file"
    else:
        env["FLEET_ARM_ENDPOINT"] = "https://127.0.0.1:9"
        fix = "check --arm-endpoint"
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path)
    ran = await fleet("run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(tmp_path / "r"), env=env)
    assert ran.code == 9, ran.both
    line = _one_line(ran.err)
    assert "cannot reach ARM" in line and fix in line, line
    assert "RECAP" not in ran.out and "wave" not in ran.out  # no per-machine verdicts, no recap
    assert not (tmp_path / "r").exists() and _sent(sim) == 0


@pytest.mark.parametrize("case", ["closed-port", "wrong-key"])
async def test_storage_unusable_stops_before_any_machine(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path, case: str
) -> None:
    sim = await sim_factory(tls=True)
    conn = azurite.connection_string
    if case == "closed-port":
        conn = conn.replace(f"127.0.0.1:{azurite.port}", "127.0.0.1:9")
        fix = "check --storage-connection-string"
    else:
        key = next(p for p in conn.split(";") if p.startswith("AccountKey="))
        conn = conn.replace(key, "AccountKey=" + "QUJD" * 22)
        fix = "account key"
    env = sim_env(sim, storage=conn)
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path)
    ran = await fleet("run", str(pb), "-i", str(inv), "--yes", "--run-dir", str(tmp_path / "r"), env=env)
    assert ran.code == 9, ran.both
    line = _one_line(ran.err)
    assert line.startswith("fleet: error: storage at ") and fix in line, line
    assert "QUJDQUJD" not in ran.both  # the key never shows
    assert not (tmp_path / "r").exists() and _sent(sim) == 0


async def test_arm_refusing_the_credential_is_run_wide(sim_factory: SimFactory) -> None:
    sim = await sim_factory()

    class Refusing:  # the ARM client's seam: get_machine answers 403
        async def get_machine(self, machine: object) -> None:
            raise AuthError("forbidden", status=403, code="AuthorizationFailed")

    with pytest.raises(RunWideError, match=r"refused the credential.*fix: sign in"):
        await check_arm(Refusing(), make_plan(machines_of(sim)[:2]), "https://arm.example")
