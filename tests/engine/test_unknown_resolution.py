"""Issue #13 A3: a run command gone while nothing shows whether it ran is ``unknown``; it is
never sent again on its own, and ``fleet resume --resolve-unknown skip|resend [MACHINE...]``
is the operator's explicit way out. Real ``fleet`` processes against the simulator, no storage
(so the output blob cannot witness)."""

from __future__ import annotations

import json
from pathlib import Path

from fleet_sim.server import SimServer
from tests.reliability.fault_matrix import PROFILES, sim_config
from tests.reliability.hostile_rows import _delete_all_run_commands, _env, _run_args, _setup
from tests.reliability.kill_resume import _fleet

MACHINES = 12


def _rows(run_dir: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    report = json.loads((run_dir / "report.json").read_text())
    return {row["name"]: row for row in report["rows"]}


def _retry(run_dir: Path) -> list[str]:
    return [x for x in (run_dir / "retry.txt").read_text().splitlines() if not x.startswith("#")]


async def test_unknown_is_never_resent_until_the_operator_says(tmp_path: Path) -> None:
    async with SimServer(sim_config(PROFILES[0], MACHINES)) as sim:
        inventory, playbook = _setup(tmp_path, sim)
        env = _env(sim.arm_endpoint, None)
        log = tmp_path / "fleet.log"
        run_dir = tmp_path / "run"
        killed = await _fleet(_run_args(playbook, inventory, run_dir, "unknown-test"),
                              {**env, "FLEET_FAILPOINT": "after_put:4"}, log)
        assert killed == -9
        assert await _delete_all_run_commands(sim) >= 1
        assert await _fleet(["resume", str(run_dir)], env, log) == 1
        rows = _rows(run_dir)
        unknown = sorted(name for name, row in rows.items() if row["state"] == "unknown")
        assert unknown, {n: r["state"] for n, r in rows.items()}
        report = json.loads((run_dir / "report.json").read_text())
        assert report["run"]["status"] == "unresolved"
        assert all("--resolve-unknown" in rows[n]["reason"] for n in unknown)
        assert not set(unknown) & set(_retry(run_dir))  # retry.txt must not invite a re-run
        before = dict(sim.stats()["executions"])

        # A plain resume looks again but sends nothing.
        assert await _fleet(["resume", str(run_dir)], env, log) == 1
        assert sim.stats()["executions"] == before

        # A machine name that is not unknown is refused (exit 2) before anything happens.
        assert await _fleet(["resume", str(run_dir), "--resolve-unknown", "skip", "no-such"], env, log) == 2
        assert await _fleet(["resume", str(run_dir), "no-such"], env, log) == 2

        # resend, for one machine: that one runs once more (the operator's decision).
        first = unknown[0]
        assert await _fleet(["resume", str(run_dir), "--resolve-unknown", "resend", first], env, log) == 1
        after = sim.stats()["executions"]
        changed = {k for k in after if after[k] != before.get(k)}
        assert len(changed) == 1 and first.lower() in next(iter(changed)).lower()
        assert _rows(run_dir)[first]["state"] in ("succeeded", "failed")

        # skip, for all the rest: never sent, the run ends without claiming they ran.
        code = await _fleet(["resume", str(run_dir), "--resolve-unknown", "skip"], env, log)
        rows = _rows(run_dir)
        assert sim.stats()["executions"] == after
        assert all(rows[n]["state"] == "skipped" for n in unknown[1:])
        assert not set(unknown[1:]) & set(_retry(run_dir))
        report = json.loads((run_dir / "report.json").read_text())
        assert report["run"]["status"] != "succeeded" and code != 0
