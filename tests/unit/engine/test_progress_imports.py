"""rich is for the live display on a terminal: a run whose output is a file or a pipe (cron,
CI, the benchmark) never imports it (half a MB resident, and its start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import io, sys
from fleet.engine.events import RunEvent
from fleet.engine.progress import Progress

out = io.StringIO()
progress = Progress(out, live=sys.argv[1] == "live", interval_s=0)
progress(RunEvent("a warning", "warning"))
progress.close()
assert "a warning" in out.getvalue(), out.getvalue()
print("RICH=" + str("rich" in sys.modules))
"""


def _imports_rich(mode: str) -> bool:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    line = [x for x in done.stdout.splitlines() if x.startswith("RICH=")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return line[-1] == "RICH=True"


def test_plain_progress_does_not_import_rich_and_the_live_display_does() -> None:
    assert _imports_rich("plain") is False
    assert _imports_rich("live") is True
