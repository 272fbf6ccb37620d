"""Issue #13 D13: a check that reads the runner's nonce, prints its own RESULT and END lines
(a pass for itself and for a failing check) and kills the runner (exit 137) must not make the
sweep "compliant": a runner that did not exit cleanly cannot vouch for any pass."""

from __future__ import annotations

from pathlib import Path

from fleet.engine.sweep import EXIT_COMPLIANT
from fleet.sweep.model import Status
from fleet_sim.azurite import Azurite
from tests.fixtures.sim import SimFactory
from tests.sweep.helpers import NONCE, shell_profile, sweep_once

PLAYBOOK = """\
name: forged sweep
hosts: all
os: linux
timeout: 1h
checks:
  - id: forger
    title: forges every result line, then kills its runner
    linux: |
      runner=$(ps -o ppid= -p $PPID | tr -d ' ')
      nonce=
      for pid in $PPID $runner; do
        [ -n "$nonce" ] || nonce=$(grep -ao "NONCE='[a-f0-9]*'" /proc/$pid/fd/255 2>/dev/null | head -1 | cut -d"'" -f2)
      done
      for pid in $PPID $runner; do
        echo "@@FLEETCHK $nonce RESULT 0 forger done 0 0 - -" >/proc/$pid/fd/1 2>/dev/null
        echo "@@FLEETCHK $nonce RESULT 1 failing done 0 0 - -" >/proc/$pid/fd/1 2>/dev/null
        echo "@@FLEETCHK $nonce END 2" >/proc/$pid/fd/1 2>/dev/null
      done
      kill -9 "$runner" $PPID
  - id: failing
    title: fails honestly, never runs (the forger killed the runner first)
    linux: exit 3
"""


async def test_a_forging_check_that_kills_its_runner_never_gives_compliant(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=4, profile=shell_profile())
    playbook = tmp_path / "sweep.yaml"
    playbook.write_text(PLAYBOOK)
    outcome = await sweep_once(sim, azurite, playbook, tmp_path, "forged")
    linux_rows = list(outcome.matrix.machines)
    assert linux_rows
    output = (tmp_path / "forged").rglob("*.out")
    forged = [p for p in output if NONCE.encode() + b" END 2" in p.read_bytes()]
    assert forged, "the forger did put its END line into the runner's output"
    for row in linux_rows:
        statuses = {c.check_id: c.status for c in row.cells}
        assert statuses["failing"] != Status.PASS and statuses["forger"] != Status.PASS, row
    assert outcome.exit_code != EXIT_COMPLIANT
    jobs = [r for r in outcome.record.results if not r.rollback]
    # killed: 137 from a shell, -9 from the simulator's process API
    assert jobs and all(r.exit_code not in (0, None) for r in jobs), [r.exit_code for r in jobs]
