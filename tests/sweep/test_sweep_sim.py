"""Checks compiled and run for real (the simulator's shell executor: real bash) and parsed into
the matrix; drift between two sweeps; a hanging check, a forger, a truncated output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from fleet.engine.sweep import EXIT_DRIFT, EXIT_NONCOMPLIANT, EXIT_UNASSESSED
from fleet.sweep.model import Status
from fleet_sim.azurite import Azurite
from fleet_sim.config import MachineOverride
from fleet_sim.inventory_io import inventory_document
from tests.engine.helpers import FAST_OPTIONS
from tests.fixtures.sim import SimFactory
from tests.sweep.helpers import NONCE, shell_profile, sweep_once

PLAYBOOK = """\
name: sim sweep
hosts: all
os: linux
timeout: 1h        # simulated: the simulator runs 100x faster than the checks' real timeouts
checks:
  - id: echo-ok
    title: prints ok
    linux: echo ok
    expect: {output_matches: ['^ok$']}
  - id: bash-recent
    title: bash is at least 4
    severity: low
    linux: echo "$BASH_VERSION"
    expect: {compare: {op: '>=', value: '4.0', type: version}}
  - id: baseline-tag
    title: the machine's baseline tag is on
    linux: echo {{ machine.tags.get('baseline', 'on') }}
    expect: {output_matches: ['^on$']}
  - id: hangs
    title: a check that never ends
    linux: sleep 60 & sleep 60
    timeout: 1s
  - id: forger
    title: prints a lookalike result line, then fails
    linux: |
      echo "@@FLEETCHK 00000000000000000000000000000000 RESULT 5 forger done 0 2 b2sK -"
      echo "@@FLEETCHK NONCE_HERE RESULT 1 echo-ok done 0 3 b2sK -"
      exit 1
  - id: isolated
    title: runs after the others broke, in its own shell
    linux: test "$(pwd)" != / && echo fine
    expect: {output_matches: ['^fine$']}
"""


def playbook(tmp_path: Path, text: str = PLAYBOOK) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text.replace("NONCE_HERE", NONCE))
    return path


async def test_real_bash_checks_become_the_matrix(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    down = MachineOverride(name_glob="arc-lnx-*-0001", status="Disconnected")
    sim = await sim_factory(machines=10, profile=shell_profile(down))
    outcome = await sweep_once(sim, azurite, playbook(tmp_path), tmp_path, "sweep-1")
    matrix = outcome.matrix
    linux = [m for m in sim.machines if m.os_type == "linux"]
    assert len(matrix.machines) == len(linux) >= 3
    ids = [c.id for c in matrix.checks]
    unreachable = [row for row in matrix.machines if row.cells[0].status == Status.UNKNOWN]
    assert [r.name for r in unreachable] == [m.name for m in linux if m.status != "Connected"]
    for row in matrix.machines:
        if row in unreachable:
            assert {c.status for c in row.cells} == {Status.UNKNOWN}
            continue
        cells = dict(zip(ids, row.cells, strict=True))
        assert cells["echo-ok"].status == Status.PASS and cells["echo-ok"].value == "ok"
        assert cells["bash-recent"].status == Status.PASS
        assert cells["bash-recent"].value.split(".")[0].isdigit()
        assert cells["baseline-tag"].status == Status.PASS
        # The hanging check is cut at its own timeout and the rest still ran.
        assert cells["hangs"].status == Status.ERROR
        assert "timed out after 1s" in cells["hangs"].detail
        # The forged lines (a foreign nonce, and even the right nonce printed by the check
        # itself) are captured output, not result lines: the check fails on its exit code.
        assert cells["forger"].status == Status.FAIL
        assert "exit code 1" in cells["forger"].detail
        assert cells["isolated"].status == Status.PASS
    assert outcome.exit_code == EXIT_NONCOMPLIANT
    data = json.loads((tmp_path / "sweep-1" / "compliance.json").read_text())
    assert data["summary"]["cells"]["fail"] == len(linux) - len(unreachable)
    assert data["exit_code"] == EXIT_NONCOMPLIANT
    assert {"compliance.csv", "compliance.html", "compliance-junit.xml", "report.json"} <= {
        p.name for p in (tmp_path / "sweep-1").iterdir()}


async def test_drift_between_two_sweeps_when_the_profile_changes_machines(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    text = PLAYBOOK.split("  - id: hangs")[0]  # echo-ok, bash-recent, baseline-tag
    book = playbook(tmp_path, text)
    history = tmp_path / "history"
    first = await sim_factory(machines=10, profile=shell_profile())
    one = await sweep_once(first, azurite, book, tmp_path, "sweep-a", history=history)
    assert one.exit_code == 0 and one.drift is None
    assert one.kept_as is not None and one.kept_as.parent == history / "sweeps"
    # The same fleet, served again with the baseline tag off on two Linux machines.
    changed_fleet = inventory_document(first.machines)
    for name in [m.name for m in first.machines if m.os_type == "linux"][1:3]:
        changed_fleet["all"]["hosts"][name]["tags"]["baseline"] = "off"
    fleet_file = tmp_path / "changed-fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(changed_fleet))
    second = await sim_factory(inventory=fleet_file, profile=shell_profile())
    two = await sweep_once(second, azurite, book, tmp_path, "sweep-b", history=history)
    assert two.drift is not None and two.drift.before_run == "sweep-a"
    changed = sorted((c.machine, c.check_id) for c in two.drift.newly_failing)
    expected = sorted((m.name, "baseline-tag") for m in second.machines
                      if m.os_type == "linux" and m.tags.get("baseline") == "off")
    assert changed == expected and len(changed) == 2
    assert not two.drift.newly_passing and not two.drift.machines_appeared
    assert two.exit_code == EXIT_DRIFT
    assert "Newly failing" in (tmp_path / "sweep-b" / "compliance.html").read_text()
    assert len(list((history / "sweeps").glob("*.json"))) == 2


async def test_truncated_output_is_never_a_pass(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    text = PLAYBOOK.split("  - id: hangs")[0] + """\
  - id: chatty
    title: prints a lot, early
    linux: head -c 3000 /dev/zero | tr '\\0' x
  - id: last
    title: after the chatty one
    linux: echo ok
"""
    sim = await sim_factory(machines=6, profile=shell_profile())
    options = dataclasses.replace(FAST_OPTIONS, max_output_bytes=2500)
    outcome = await sweep_once(sim, azurite, playbook(tmp_path, text), tmp_path, "sweep-t",
                               options=options)
    ids = [c.id for c in outcome.matrix.checks]
    assert outcome.matrix.machines
    for row in outcome.matrix.machines:
        cells = dict(zip(ids, row.cells, strict=True))
        # The chatty check's own result line is cut whichever end of the output was kept.
        assert cells["chatty"].status == Status.ERROR
        assert "truncated" in cells["chatty"].detail
        # Every other check either has its whole line in what was kept, or is an error.
        for check_id in ("echo-ok", "bash-recent", "baseline-tag", "last"):
            cell = cells[check_id]
            assert cell.status == Status.PASS or (
                cell.status == Status.ERROR and "truncated" in cell.detail), cell
    assert outcome.exit_code == EXIT_UNASSESSED


async def test_the_shipped_linux_baseline_runs_for_real(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parents[2]
    book = tmp_path / "baseline.yaml"
    # Simulated time runs 100x faster: give the run command an hour so real bash has 36 s.
    book.write_text((root / "playbooks/baseline-linux.yaml").read_text()
                    .replace("check_timeout: 30s", "check_timeout: 30s\ntimeout: 1h")
                    .replace("hosts: linux", "hosts: os_linux"))
    sim = await sim_factory(machines=4, profile=shell_profile())
    outcome = await sweep_once(sim, azurite, book, tmp_path, "baseline-1")
    assert len(outcome.matrix.checks) >= 10 and outcome.matrix.machines
    for row in outcome.matrix.machines:
        # Whatever this host's configuration, every check was assessed: pass or fail, with why.
        assert {c.status for c in row.cells} <= {Status.PASS, Status.FAIL}, row.cells
        assert all(c.detail for c in row.cells if c.status == Status.FAIL)
    assert outcome.exit_code in (0, EXIT_NONCOMPLIANT)
