"""Following a production run with the embedded mode's own display: what the workflow and the
run's storage say, translated into the engine's events (``fleet.engine.events``), which the
same ``Progress`` observer shows and the same recap ends.

Bounded at any size: each poll is one small query (``follow``: the run's progress plus the
shards started or finished since a cursor, at most ``SHARD_PAGE`` of them) and, per *running*
shard, one listing of its finished rows (``fleet/shards/<id>/rows/``) and one read of each row
not seen before; a finished shard's result blob is read once. Every machine's row is read at
most twice in a whole run, whatever its size; the workflow history never holds a row. Polls
back off while nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fleet.engine.events import Event, JobEvent, RunEvent, WaveEvent, WaveEventState
from fleet.journal import job_key
from fleet.plan.model import Plan
from fleet.production.artifacts import shard_blob
from fleet.production.inflight import jobs_in_order
from fleet.report.recap import plural
from fleet.types import JobState

__all__ = ["SHARD_PAGE", "Follower", "JobInfo", "RunSource", "Translator", "jobs_of"]

SHARD_PAGE = 200  # shard events per query answer: the answer stays a few KB at any run size
_ENDED: frozenset[str] = frozenset({"done", "halted", "stopped"})
ROLLBACK_WAVE = -1


@dataclass(frozen=True, slots=True)
class JobInfo:
    machine: str
    step: str
    wave: int
    rollback: bool


def jobs_of(plan: Plan) -> dict[str, JobInfo]:
    """The plan's jobs by journal key (the key a shard's rows carry)."""
    return {job_key(j.machine, j.step, j.rollback): JobInfo(j.machine.name, j.step, j.wave, j.rollback)
            for j in (*plan.jobs, *plan.rollback_jobs)}


@dataclass(frozen=True, slots=True)
class WaveInfo:
    index: int
    label: str
    machines: int


class RunSource(Protocol):
    """Where a follower reads a production run: the workflow's ``follow`` query and the run's
    storage (Temporal and Azure in production, fakes in unit tests)."""

    async def follow(self, after: int) -> Mapping[str, Any]: ...

    async def row_names(self, shard_id: str) -> Sequence[str]: ...

    async def read(self, name: str) -> Any:
        """The blob's JSON, or None if it does not exist."""
        ...

    async def in_flight(self) -> Sequence[Mapping[str, Any]]:
        """The running shards' last heartbeat details (``fleet.production.inflight``)."""
        ...


def _duration_s(row: Mapping[str, Any]) -> float | None:
    try:
        begun = datetime.fromisoformat(str(row["started_at"]).replace("Z", "+00:00"))
        ended = datetime.fromisoformat(str(row["ended_at"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (ended - begun).total_seconds())


def _first_line(row: Mapping[str, Any]) -> str | None:
    excerpt = (row.get("output") or {}).get("excerpt") or ""
    first = next((line.strip() for line in str(excerpt).splitlines() if line.strip()), "")
    return first[:200] or None


class Translator:
    """The workflow's answers and the shards' rows -> the engine's events, each said once and in
    the embedded mode's order: a wave starts, its machines finish, the wave ends, then a gate, a
    pause, or the next wave. Pure: no I/O."""

    def __init__(self, plan: Plan, *, resume_hint: str, announce_gates: bool = True) -> None:
        self._jobs = jobs_of(plan)
        self._order = [job_key(j.machine, j.step, j.rollback) for j in jobs_in_order(plan)]
        self._waves = [WaveInfo(w.index, w.label, len(w.machines)) for w in plan.waves]
        self._last = self._waves[-1].index if self._waves else None
        # The rollback (after a breach) is a wave of its own, -1, as the embedded engine says it
        # (the count is the playbook's rollback targets: the shards choose the ones that ran).
        rollback = len({j.machine.key for j in plan.rollback_jobs})
        if rollback:
            self._waves.append(WaveInfo(ROLLBACK_WAVE, "rollback", rollback))
        self._by_wave: dict[int, list[str]] = {}
        for key, info in self._jobs.items():
            if not info.rollback:
                self._by_wave.setdefault(info.wave, []).append(key)
        self._on_breach = plan.rollout.on_breach
        self._pause_s = plan.rollout.pause_s
        self._resume_hint = resume_hint
        self._announce_gates = announce_gates  # False: a terminal asks instead (embedded, too)
        self._wave_state: dict[int, str] = {}
        self._said: dict[str, JobState] = {}
        self._gates: set[int] = set()
        self._breach = False
        self._stopping = False
        self._pause_due: int | None = None

    # -- waves, gates, breaches, pauses ----------------------------------------------------
    @property
    def waves(self) -> list[int]:
        return [wave.index for wave in self._waves]

    def opening(self, answer: Mapping[str, Any], index: int) -> list[Event]:
        """The wave's start, if it started since the last answer (before its machines' rows)."""
        wave = self._wave(index)
        if _wave_state(answer, index) not in ("running", *_ENDED) or index in self._wave_state:
            return []
        self._wave_state[index] = "running"
        if index == ROLLBACK_WAVE:
            return [RunEvent(f"rolling back {plural(wave.machines, 'machine')}", "warning"),
                    WaveEvent(index, wave.label, wave.machines, "started")]
        return [*self._pause_before(index), WaveEvent(index, wave.label, wave.machines, "started")]

    def ending(self, answer: Mapping[str, Any], index: int) -> list[Event]:
        """The wave's end (after its machines' rows): a breach first, as the engine says it."""
        wave = self._wave(index)
        state = _wave_state(answer, index)
        known = self._wave_state.get(index)
        events: list[Event] = []
        if state in _ENDED and known == "running":
            events += self._breached(answer)
            self._wave_state[index] = state
            ended: WaveEventState = "halted" if state == "halted" else (
                "stopped" if state == "stopped" else "done")
            events.append(WaveEvent(index, wave.label, wave.machines, ended))
            if state == "done" and index not in (self._last, ROLLBACK_WAVE):
                self._pause_due = index
        elif state == "skipped" and known is None:
            events += self._breached(answer)
            self._wave_state[index] = "skipped"
            events.append(WaveEvent(index, wave.label, wave.machines, "skipped"))
            events += self._skipped(index, "halted by the rollout policy")
        return events

    def closing(self, answer: Mapping[str, Any]) -> list[Event]:
        """A breach, a gate, a pause or a stop (after every wave's news)."""
        events = self._breached(answer)
        gate = answer.get("awaiting_approval")
        if isinstance(gate, int) and gate not in self._gates:
            self._gates.add(gate)
            if self._announce_gates:
                events.append(self.waiting(gate))
        if gate is None and answer.get("status") == "running" and self._pause_due is not None:
            events.extend(self._pause_before(self._pause_due + 1))
        if answer.get("status") == "stopping" and not self._stopping:
            self._stopping = True
            events.append(RunEvent("run canceled: launching nothing new", "warning"))
        return events

    def waiting(self, gate: int) -> RunEvent:
        return RunEvent(f"waiting for approval after wave {gate + 1}: continue with "
                        f"`{self._resume_hint}`", "warning")

    def label_after(self, gate: int) -> str:
        """The label of the wave after ``gate`` (the embedded question names it)."""
        later = [w for w in self._waves if w.index > gate and w.index != ROLLBACK_WAVE]
        return later[0].label if later else "?"

    def _wave(self, index: int) -> WaveInfo:
        return next(wave for wave in self._waves if wave.index == index)

    def _breached(self, answer: Mapping[str, Any]) -> list[Event]:
        reason = answer.get("breach_reason")
        if not reason or self._breach:
            return []
        self._breach = True
        return [RunEvent(f"rollout policy breached: {reason}; action: {self._on_breach}", "warning")]

    def _pause_before(self, wave: int) -> list[Event]:
        due, self._pause_due = self._pause_due, None
        if due is None or due + 1 != wave or not self._pause_s or self._breach:
            return []
        return [RunEvent(f"pausing {self._pause_s}s before the next wave")]

    def _skipped(self, wave: int, why: str) -> list[Event]:
        return [event for key in self._by_wave.get(wave, [])
                for event in self.rows([{"key": key, "state": JobState.SKIPPED.value, "reason": why}])]

    # -- machines --------------------------------------------------------------------------
    def rows(self, rows: Iterable[Mapping[str, Any]]) -> list[Event]:
        """A shard's rows (``fleet.production.rows.row_to_json``) as job events: each job's
        state said once, a finished job never said again."""
        events: list[Event] = []
        for row in rows:
            info = self._jobs.get(str(row.get("key")))
            try:
                state = JobState(str(row.get("state")))
            except ValueError:
                continue
            if info is None:
                continue
            key = str(row["key"])
            before = self._said.get(key)
            if before == state or (before is not None and before.terminal):
                continue
            self._said[key] = state
            extras: dict[str, Any] = {}
            if state.terminal and state != JobState.SKIPPED:
                extras = {"duration_s": _duration_s(row), "first_line": _first_line(row)}
            reason = row.get("reason")
            events.append(JobEvent(info.machine, info.step, state, info.wave,
                                   str(reason) if reason else None, info.rollback, **extras))
        return events

    def in_flight(self, details: Iterable[Mapping[str, Any]], wave: int) -> list[Event]:
        """The wave's jobs that running shards' heartbeats say are sent or running (a job
        never goes back: not from running to sent, never from finished)."""
        rows = []
        for detail in details:
            if detail.get("wave") != wave:
                continue
            for what, state in (("sent", JobState.DISPATCHED), ("running", JobState.RUNNING)):
                for position in detail.get(what) or []:
                    if isinstance(position, int) and 0 <= position < len(self._order):
                        key = self._order[position]
                        if not (state == JobState.DISPATCHED and self._said.get(key) == JobState.RUNNING):
                            rows.append({"key": key, "state": state.value})
        return self.rows(rows)

    def unsaid(self, results: Iterable[tuple[str, JobState, str | None]]) -> list[Event]:
        """The report's final states of jobs no row announced (a shard never started, a
        halted wave's rest): the counts on screen end as the report's."""
        return self.rows({"key": key, "state": state.value, "reason": reason} for key, state, reason in results)


def _wave_state(answer: Mapping[str, Any], index: int) -> str | None:
    waves = answer.get("waves") or {}
    state = waves.get(str(index)) if isinstance(waves, Mapping) else None
    return state if isinstance(state, str) else None


class Follower:
    """Polls a ``RunSource`` and hands the events to ``emit``. ``step()`` is one poll; it says
    whether anything new was seen (the caller backs off when not)."""

    def __init__(self, source: RunSource, translator: Translator, emit: Callable[[Event], None],
                 *, reads_at_once: int = 16) -> None:
        self._source = source
        self._translator = translator
        self._emit = emit
        self._cursor = 0
        self.last: Mapping[str, Any] = {}  # the last answer of the workflow
        self._epoch: object = None
        self._running: dict[str, tuple[int, set[str]]] = {}  # shard -> (wave, rows already read)
        self._finishing: dict[str, int] = {}  # shard -> wave: finished, its result not yet read
        self._said = 0
        self._gate = asyncio.Semaphore(reads_at_once)

    async def step(self) -> bool:
        """One poll. Events are handed on as they are made: a read that fails midway loses
        none of them, and a finished shard whose result could not be read is read next time."""
        answer, started, finished = await self._query()
        self.last = answer
        for shard_id, wave in started:
            self._running.setdefault(shard_id, (wave, set()))
        self._finishing.update(finished)
        said = self._said
        details = await self._source.in_flight() if self._running else []
        for index in self._translator.waves:
            self._say(self._translator.opening(answer, index))
            for shard_id, wave in sorted(self._finishing.items()):  # results first: they end
                if wave == index:                                   # what began earlier
                    result = await self._source.read(shard_blob(shard_id))
                    self._finishing.pop(shard_id)
                    self._running.pop(shard_id, None)
                    if isinstance(result, Mapping):
                        self._say(self._translator.rows(result.get("rows") or []))
            for shard_id, (wave, _seen) in list(self._running.items()):
                if wave == index:
                    self._say(self._translator.rows(await self._new_rows(shard_id)))
            self._say(self._translator.in_flight(details, index))
            self._say(self._translator.ending(answer, index))
        self._say(self._translator.closing(answer))
        return bool(self._said != said or started or finished)

    def _say(self, events: list[Event]) -> None:
        for event in events:
            self._emit(event)
        self._said += len(events)

    async def _query(self) -> tuple[Mapping[str, Any], list[tuple[str, int]], dict[str, int]]:
        started: list[tuple[str, int]] = []
        finished: dict[str, int] = {}
        while True:
            answer = await self._source.follow(self._cursor)
            epoch = answer.get("epoch")
            if epoch != self._epoch:
                if self._epoch is not None:
                    # Continued as new (always at a wave boundary): every shard of the
                    # previous history has ended, and the cursor starts over.
                    finished.update((s, wave) for s, (wave, _seen) in self._running.items())
                    self._cursor = 0
                    self._epoch = epoch
                    continue
                self._epoch = epoch
            for shard_id, wave, what in answer.get("shards") or []:
                if what == "started":
                    started.append((str(shard_id), int(wave)))
                else:
                    finished[str(shard_id)] = int(wave)
            self._cursor = int(answer.get("next", self._cursor))
            if not answer.get("more"):
                return answer, started, finished

    async def _new_rows(self, shard_id: str) -> list[Any]:
        seen = self._running[shard_id][1]
        fresh = [n for n in await self._source.row_names(shard_id) if n not in seen]

        async def read(name: str) -> Any:
            async with self._gate:
                return await self._source.read(name)

        found = await asyncio.gather(*(read(n) for n in fresh))
        seen.update(fresh)
        return [row for row in found if isinstance(row, Mapping)]
