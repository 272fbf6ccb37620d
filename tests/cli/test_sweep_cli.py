"""``fleet sweep`` on the command line as a scheduler's log shows it: one verdict, lists that
say how much they left out, and details that quote the line that failed (real CLI processes,
the simulator's shell executor, Azurite)."""

from __future__ import annotations

import re
from pathlib import Path

from fleet_sim.azurite import Azurite
from tests.cli.helpers import fleet, inventory, sim_env
from tests.fixtures.sim import SimFactory
from tests.sweep.helpers import shell_profile

SWEEP = """\
name: cli sweep
hosts: linux
os: linux
timeout: 1h
checks:
  - id: flag
    title: the flag is on
    linux: echo {{ flag }}
    expect: {output_matches: ['^on$']}
  - id: no-legacy
    title: nothing legacy is printed
    linux: |
      printf 'first line fine\\n\\nLegacy cipher enabled: RC4\\n' | grep -v fine
    expect: {output_not_matches: ['\\S']}
"""


async def test_sweep_prints_one_verdict_counts_what_it_cuts_and_quotes_the_line(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=40, tls=True, profile=shell_profile())
    linux = sum(1 for m in sim.machines if m.os_type == "linux")
    assert linux > 10
    env = sim_env(sim, storage=azurite.connection_string)
    inv = inventory(sim, tmp_path)
    book = tmp_path / "sweep.yaml"
    book.write_text(SWEEP, encoding="utf-8")
    history = tmp_path / "history"

    first = await fleet("sweep", str(book), "-i", str(inv), "--history", str(history),
                        "--run-dir", str(tmp_path / "s1"), "-e", "flag=on", env=env)
    assert first.code == 5, first.both  # no-legacy fails everywhere: non-compliant
    second = await fleet("sweep", str(book), "-i", str(inv), "--history", str(history),
                         "--run-dir", str(tmp_path / "s2"), "-e", "flag=off", env=env)
    assert second.code == 6, second.both  # flag: newly failing on every Linux machine
    out = second.out
    verdicts = [line for line in out.splitlines() if re.match(r"(status|exit) ", line)]
    assert verdicts == ["exit 6: " + verdicts[0].split(": ", 1)[1]], verdicts  # one verdict
    assert "status:" not in out
    assert f"… and {linux - 10} more newly failing cells" in out
    assert len([line for line in out.splitlines() if "newly failing:" in line]) == 10
    detail = (tmp_path / "s1" / "compliance.json").read_text()
    assert "output matches /\\\\S/: 'Legacy cipher enabled: RC4'" in detail, detail[:2000]
    assert " 1 machines" not in out and " 1 checks" not in out
