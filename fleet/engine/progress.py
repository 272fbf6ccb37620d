"""Observers of the engine's event stream: terminal progress and a JSON-lines log.

On a terminal, a live line of counts by state and throughput (rich); elsewhere, a plain line
every ``interval_s`` and at each wave boundary. The log file gets one JSON object per event.
Events carry no secrets; the log still passes text through the redactor as a second guard.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from fleet.engine.events import ArmNotice, Event, JobEvent, RunEvent, WaveEvent
from fleet.types import JobState

__all__ = ["JsonLog", "Progress"]


class Progress:
    """Counts by state; prints wave boundaries, warnings and periodic summaries."""

    def __init__(self, out: IO[str], *, live: bool, verbose: int = 0, interval_s: float = 10.0) -> None:
        self._out = out
        self._verbose = verbose
        self._interval_s = interval_s
        self._states: dict[tuple[str, str, bool], JobState] = {}
        self._started = time.monotonic()
        self._last_print = 0.0
        self._live: Any = None
        if live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=out), refresh_per_second=4, transient=True)
            self._live.start()

    def counts(self) -> Counter[str]:
        return Counter(state.value for state in self._states.values())

    def line(self) -> str:
        counts = self.counts()
        done = sum(n for s, n in counts.items() if JobState(s).terminal)
        elapsed = max(1e-6, time.monotonic() - self._started)
        parts = [f"{s}={counts[s]}" for s in sorted(counts)]
        return f"[{elapsed:6.0f}s] jobs {done}/{len(self._states)} done, {done / elapsed:.1f}/s  " + " ".join(parts)

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobEvent):
            self._states[(event.machine, event.step, event.rollback)] = event.state
            if self._verbose and (event.state.terminal or self._verbose > 1):
                detail = f" ({event.detail})" if event.detail else ""
                self._print(f"  {event.machine} {event.step}: {event.state.value}{detail}")
        elif isinstance(event, WaveEvent):
            name = "rollback" if event.wave < 0 else f"wave {event.wave + 1} [{event.label}]"
            self._print(f"{name}: {event.state}, {event.machines} machine(s)")
            if event.state != "started":
                self._print(self.line())
        elif isinstance(event, RunEvent):
            self._print(("warning: " if event.level == "warning" else "") + event.message)
        elif isinstance(event, ArmNotice) and (self._verbose or event.what == "throttle_pause"):
            self._print(event.detail)
        self._tick()

    def _tick(self) -> None:
        if self._live is not None:
            self._live.update(self.line())
            return
        now = time.monotonic()
        if self._states and now - self._last_print >= self._interval_s:
            self._last_print = now
            self._print(self.line())

    def _print(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self._out, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class JsonLog:
    """One JSON object per event, appended to a file readable by its owner only."""

    def __init__(self, path: Path) -> None:
        from fleet.redact import redact_text

        self._redact = redact_text
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        data = asdict(event)
        data["at"] = time.time()
        if isinstance(event, JobEvent):
            data["state"] = event.state.value
        self._file.write(self._redact(json.dumps(data, sort_keys=True)) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
