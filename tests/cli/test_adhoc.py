"""Ad-hoc runs (``fleet run --script``) and rollout overrides on the command line (real CLI
processes against the simulator + Azurite)."""

from __future__ import annotations

import json
from pathlib import Path

from fleet_sim.azurite import Azurite
from tests.cli.helpers import fleet, inventory, playbook, sim_env
from tests.fixtures.sim import SimFactory
from tests.sweep.helpers import shell_profile


async def test_adhoc_script_runs_without_a_playbook_and_resumes(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(tls=True, profile=shell_profile())  # scripts run in real bash
    env = sim_env(sim, storage=azurite.connection_string)
    inv = inventory(sim, tmp_path)
    run_dir = tmp_path / "run"
    ran = await fleet("run", "--script", "echo adhoc-$(hostname)", "--os", "linux", "-i", str(inv),
                      "--limit", "linux", "--waves", "1,50%,100%", "--max-concurrency", "3",
                      "--yes", "--run-dir", str(run_dir), env=env)
    assert ran.code in (0, 4), ran.both
    plan = json.loads((run_dir / "plan.json").read_text())
    linux = sum(1 for m in sim.machines if m.os_type == "linux")
    assert len(plan["jobs"]) == linux
    assert [w["label"] for w in plan["waves"]] == ["1", "50%", "100%"]
    assert str(plan["rollout"]["max_concurrency"]) == "3"
    outputs = list((run_dir / "output").rglob("main.out"))
    assert len(outputs) == linux and all(p.read_text().startswith("adhoc-") for p in outputs)
    # storage was used: no row may say "no storage" (item 2 of the issue: notes say only what is true)
    report = json.loads((run_dir / "report.json").read_text())
    ran_rows = [r for r in report["rows"] if r["state"] == "succeeded"]
    assert ran_rows and all(r["output"]["source"] == "blob" for r in ran_rows)
    assert not any("no storage" in note for r in report["rows"] for note in r["notes"])
    again = await fleet("resume", str(run_dir), env=env)  # rebuilt from adhoc-playbook.yaml
    assert again.code == ran.code and "is finished" in again.out, again.both

    # the run history and one machine's output, from the run folder
    listed = await fleet("runs", str(tmp_path), env=env)
    assert listed.code == 0 and plan["run_id"] in listed.out and "ad-hoc: echo adhoc-" in listed.out
    assert f"{linux - sum(1 for m in sim.machines if m.os_type == 'linux' and m.status != 'Connected')} ok" in listed.out
    as_json = json.loads((await fleet("runs", str(tmp_path), "--format", "json", env=env)).out)
    assert as_json[0]["status"] in ("succeeded", "unreachable") and as_json[0]["duration_s"] > 0
    first = outputs[0]
    shown = await fleet("output", str(run_dir), first.parent.name, env=env)
    assert shown.code == 0 and shown.out == first.read_text()
    missing = await fleet("output", str(run_dir), "no-such-machine", env=env)
    assert missing.code == 2 and "not a machine of this run" in missing.err


async def test_adhoc_needs_an_os_and_one_source(tmp_path: Path, sim_factory: SimFactory) -> None:
    sim = await sim_factory(tls=True)
    env, inv = sim_env(sim), inventory(sim, tmp_path)
    no_os = await fleet("run", "--script", "id", "-i", str(inv), "--yes", env=env)
    assert no_os.code == 2 and "needs --os" in no_os.err
    both = await fleet("run", str(playbook(tmp_path)), "--script", "id", "--os", "linux",
                       "-i", str(inv), "--yes", env=env)
    assert both.code == 2 and "not both" in both.err
    neither = await fleet("run", "-i", str(inv), "--yes", env=env)
    assert neither.code == 2 and "--script" in neither.err


async def test_max_failures_override_halts_a_playbook_that_has_no_budget(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(tls=True, profile=shell_profile())
    env = sim_env(sim, storage=azurite.connection_string)
    inv, pb = inventory(sim, tmp_path), playbook(tmp_path, script="exit 3")
    ran = await fleet("run", str(pb), "-i", str(inv), "--waves", "1,100%", "--max-failures", "0",
                      "--yes", "--run-dir", str(tmp_path / "r"), env=env)
    assert ran.code == 3, ran.both  # halted after the first wave's failure
    assert "wave 2/2 [100%]: skipped" in ran.out
    bad = await fleet("run", str(pb), "-i", str(inv), "--max-failures", "lots", "--yes",
                      "--run-dir", str(tmp_path / "r2"), env=env)
    assert bad.code == 2 and "max_failures" in bad.err
