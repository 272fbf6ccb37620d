"""`fleet plan` and `fleet inventory` stay light: they must not import the engine or the
storage SDK (that tripled their start-up, and the hostile corpus starts hundreds of them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from fleet.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted(m for m in ("fleet.engine.session", "azure.storage.blob", "aiohttp")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _heavy(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    line = [x for x in done.stdout.splitlines() if x.startswith("HEAVY=")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return [m for m in line[-1][len("HEAVY="):].split(",") if m]


def test_plan_and_inventory_do_not_import_the_engine_or_storage() -> None:
    assert _heavy("plan", "playbooks/demo-firewall.yaml", "-i", "inventory.example.yaml") == []
    assert _heavy("inventory", "-i", "inventory.example.yaml") == []
