"""Observers of the engine's event stream: terminal progress and a JSON-lines log.

On a terminal, a live line (rich) that ticks by itself: elapsed time, done/total of the plan
and of the current wave, rate, ETA, counts by state; elsewhere, a plain line every
``interval_s``. The log file gets one JSON object per event.
Events carry no secrets; the log still passes text through the redactor as a second guard.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fleet.engine.events import ArmNotice, Event, JobEvent, RunEvent, WaveEvent
from fleet.report.recap import plural
from fleet.termtext import clean
from fleet.types import JobState

if TYPE_CHECKING:  # rich is imported only for the live display (a terminal), not by a plain run
    from rich.text import Text

__all__ = ["JsonLog", "Progress", "format_elapsed"]

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


WIDTH = 80
_SHORT = {
    "pending": "wait", "dispatched": "sent", "running": "run", "succeeded": "ok", "failed": "fail",
    "timed_out": "tmo", "canceled": "cncl", "unreachable": "unrch", "stuck": "stuck",
    "error": "err", "skipped": "skip",
}
_COLOUR = {"warning": "33", "bad": "31", "good": "32"}


def format_elapsed(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _rate(per_s: float) -> str:
    return f"{per_s:.1f}/s" if per_s >= 1 else f"{per_s * 60:.1f}/min"


class Progress:
    """What a person watching the run needs: elapsed time that ticks by itself, done/total of
    the plan and of the current wave, a rate and an ETA, counts by state (every line at most 80
    columns); wave boundaries and warnings as lines; with ``-v`` one line per finished job
    (duration, first output line)."""

    def __init__(
        self, out: IO[str], *, live: bool, verbose: int = 0, interval_s: float = 10.0,
        colour: bool = False, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out
        self._verbose = verbose
        self._interval_s = interval_s
        self._colour = colour
        self._clock = clock
        self._states: dict[tuple[str, str, bool], JobState] = {}
        self._started = clock()
        self._lock = threading.Lock()  # the counts (read by rich's refresh thread)
        self._print_lock = threading.Lock()  # plain lines (the ticker thread prints too)
        self._total = 0
        self._wave_total: dict[int, int] = {}
        self._done_before = 0
        self._wave_done_before: dict[int, int] = {}
        self._waves = 0
        self._wave: int | None = None
        self._done_now = 0
        self._wave_done_now: Counter[int] = Counter()
        self._live: Any = None
        self._ticker: threading.Thread | None = None
        self._closed = threading.Event()
        if live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=out, no_color=not colour, highlight=False)
            self._live = Live(_Rendered(self), console=console, refresh_per_second=4, transient=True,
                              auto_refresh=True)
            self._live.start()
        elif interval_s > 0:
            self._ticker = threading.Thread(target=self._tick_forever, daemon=True)
            self._ticker.start()

    def expect(self, jobs_per_wave: Mapping[int, int], done_per_wave: Mapping[int, int] | None = None) -> None:
        """The plan's jobs per wave (and, on resume, those already finished)."""
        done = dict(done_per_wave or {})
        with self._lock:
            self._wave_total = dict(jobs_per_wave)
            self._total = sum(jobs_per_wave.values())
            self._waves = len([w for w in jobs_per_wave if w >= 0])
            self._wave_done_before = done
            self._done_before = sum(done.values())

    def counts(self) -> Counter[str]:
        return Counter(state.value for state in self._states.values())

    def line(self) -> str:
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._started)
            timer = f"[{format_elapsed(elapsed):>6}] "
            parts = []
            if self._wave is not None and self._wave >= 0 and self._wave in self._wave_total:
                done = self._wave_done_before.get(self._wave, 0) + self._wave_done_now[self._wave]
                parts.append(f"wave {self._wave + 1}/{self._waves} {done}/{self._wave_total[self._wave]}")
            total = self._total or len(self._states)
            done_all = self._done_before + self._done_now
            parts.append(f"all {done_all}/{total} jobs")
            if self._done_now and elapsed > 0:
                per_s = self._done_now / elapsed
                parts.append(_rate(per_s))
                remaining = max(0, total - done_all)
                if remaining:
                    parts.append(f"ETA {format_elapsed(remaining / per_s)}")
            counts = self.counts()
            states = " ".join(f"{_SHORT.get(s, s)}={counts[s]}" for s in sorted(counts) if counts[s])
            text = timer + " · ".join(parts) + (f"  {states}" if states else "")
        return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobEvent):
            key = (event.machine, event.step, event.rollback)
            with self._lock:
                before = self._states.get(key)
                self._states[key] = event.state
                if event.state.terminal and not (before is not None and before.terminal) and not event.rollback:
                    self._done_now += 1
                    self._wave_done_now[event.wave] += 1
            shown = event.state.terminal and event.state != JobState.SKIPPED
            if self._verbose and (shown or self._verbose > 1):
                self._print(self._job_line(event), "bad" if event.state.is_failure else None)
        elif isinstance(event, WaveEvent):
            if event.state == "started" and event.wave >= 0:
                self._wave = event.wave
            name = "rollback" if event.wave < 0 else f"wave {event.wave + 1}/{self._waves or '?'} [{event.label}]"
            self._print(f"{name}: {event.state}, {plural(event.machines, 'machine')}")
        elif isinstance(event, RunEvent):
            warning = event.level == "warning"
            self._print(("warning: " if warning else "") + event.message, "warning" if warning else None)
        elif isinstance(event, ArmNotice) and (self._verbose or event.what == "throttle_pause"):
            self._print(event.detail)
        if self._live is not None:
            self._live.refresh()

    def _job_line(self, event: JobEvent) -> str:
        took = f" in {format_elapsed(event.duration_s)}" if event.duration_s is not None else ""
        detail = f" ({event.detail})" if event.detail else ""
        first = f": {event.first_line}" if event.first_line else ""
        text = f"  {event.machine} {event.step}: {event.state.value}{took}{detail}{first}"
        text = _UNPRINTABLE.sub("?", text)
        return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"

    def _tick_forever(self) -> None:
        """Not a terminal: a line every ``interval_s`` while there is work, events or not."""
        while not self._closed.wait(self._interval_s):
            if self._total or self._states:
                self._print(self.line())

    def _print(self, text: str, tone: str | None = None) -> None:
        text = clean(text)  # machine names, details and messages are untrusted: before colour
        if self._colour and tone in _COLOUR:
            text = f"\x1b[{_COLOUR[tone]}m{text}\x1b[0m"
        live = self._live
        if live is not None:  # rich serialises its own output (never under self._lock: the
            # refresh thread takes rich's lock, then self._lock in line())
            from rich.text import Text

            live.console.print(Text.from_ansi(text) if self._colour else Text(text))
            return
        with self._print_lock:
            print(text, file=self._out, flush=True)

    def close(self) -> None:
        self._closed.set()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        if self._states:  # the last state of the counts, kept on screen
            print(self.line(), file=self._out, flush=True)


class _Rendered:
    """Rendered anew at every refresh of the live display: the timer ticks without events."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(self._progress.line(), no_wrap=True, overflow="ellipsis")


class JsonLog:
    """One JSON object per event, appended to a file readable by its owner only."""

    def __init__(self, path: Path) -> None:
        """Opens ``path`` and writes a first line: a file that cannot be written (``/dev/full``,
        a read-only folder) is a usage error naming it, before the run starts."""
        from fleet.errors import UsageError
        from fleet.redact import redact_text

        self._redact = redact_text
        self._path = path
        self.failed: str | None = None
        try:
            fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
            self._file.write(json.dumps({"at": time.time(), "kind": "log_opened"}) + "\n")
            self._file.flush()
        except OSError as error:
            raise UsageError(f"--log-file {path}: cannot write: {error.strerror or error}") from error

    def __call__(self, event: Event) -> None:
        if self.failed is not None:
            return
        data = asdict(event)
        data.pop("first_line", None)  # the log holds events, never output text
        data["at"] = time.time()
        if isinstance(event, JobEvent):
            data["state"] = event.state.value
        try:
            self._file.write(self._redact(json.dumps(data, sort_keys=True)) + "\n")
            self._file.flush()
        except OSError as error:
            # The run goes on (its journal is the record); say once, naming the file.
            self.failed = f"log file {self._path}: cannot write ({error.strerror or error}): no more events are logged"
            sys.stderr.write(f"fleet: warning: {self.failed}\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
