"""The production follower's translation at its seam (a fake ``RunSource``): the workflow's
answers and the shards' rows become the embedded engine's events, each once, in the embedded
order (a wave starts, its machines finish, it ends, then a gate or a pause), and every row is
read at most once while its shard runs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.engine.events import Event, JobEvent, RunEvent, WaveEvent
from fleet.engine.progress import Progress
from fleet.journal import job_key
from fleet.production.artifacts import shard_blob
from fleet.production.follow import Follower, RunSource, Translator
from fleet.types import JobState, MachineRef, RolloutPolicy
from tests.engine.helpers import make_plan


def _machines(count: int) -> list[MachineRef]:
    return [MachineRef("sub-00000001", "rg", f"m-{i:02d}", "eastus", "linux") for i in range(count)]


def _row(machine: MachineRef, state: str, reason: str | None = None) -> dict[str, Any]:
    return {"key": job_key(machine, "apply"), "state": state, "exit_code": 0, "attempts": 1,
            "polls": 1, "started_at": "2026-01-01T00:00:00.000Z", "ended_at": "2026-01-01T00:00:02.500Z",
            "reason": reason, "output": {"excerpt": "\nhello from it\nmore"}, "error": {}}


class FakeSource:
    """A workflow and a storage account in memory; counts what the follower reads."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {"status": "running", "waves": {}, "awaiting_approval": None,
                                       "breach_reason": None, "epoch": "r1"}
        self.log: list[tuple[str, int, str]] = []
        self.blobs: dict[str, Any] = {}
        self.reads: list[str] = []
        self.queries = 0
        self.beats: list[dict[str, Any]] = []

    async def follow(self, after: int) -> Mapping[str, Any]:
        self.queries += 1
        page = self.log[after:after + 2]  # tiny pages: the cursor must page through
        return {**self.answer, "shards": page, "next": after + len(page),
                "more": after + len(page) < len(self.log)}

    async def row_names(self, shard_id: str) -> Sequence[str]:
        return sorted(n for n in self.blobs if n.startswith(f"fleet/shards/{shard_id}/rows/"))

    async def read(self, name: str) -> Any:
        self.reads.append(name)
        return self.blobs.get(name)

    async def in_flight(self) -> Sequence[Mapping[str, Any]]:
        return self.beats


def _follower(source: RunSource, plan: Any) -> tuple[Follower, list[Event], Translator]:
    seen: list[Event] = []
    translator = Translator(plan, resume_hint="fleet resume t1 --approve --temporal X")
    return Follower(source, translator, seen.append), seen, translator


def _said(events: list[Event]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, WaveEvent):
            out.append(f"wave {e.wave} {e.state}")
        elif isinstance(e, JobEvent):
            out.append(f"{e.machine} {e.state.value}")
        elif isinstance(e, RunEvent):
            out.append(e.message.split(":")[0])
    return out


def test_waves_rows_gate_and_pause_in_the_embedded_order() -> None:
    machines = _machines(4)
    plan = make_plan(machines, waves=[1, 3], rollout=RolloutPolicy(approve=True, pause_s=30))
    first, second = (w.index for w in plan.waves)
    source = FakeSource()
    follower, events, _ = _follower(source, plan)

    async def go() -> None:
        assert not await follower.step()  # nothing started: nothing said
        source.answer["waves"] = {str(first): "running"}
        source.log.append(("s1", first, "started"))
        source.blobs["fleet/shards/s1/rows/a.json"] = _row(machines[0], "succeeded")
        assert await follower.step()
        source.log.append(("s1", first, "done"))
        source.blobs[shard_blob("s1")] = {"rows": [_row(machines[0], "succeeded")]}
        source.answer.update(waves={str(first): "done"}, awaiting_approval=first)
        assert await follower.step()
        assert not await follower.step()  # waiting at the gate: nothing new, said once
        source.answer.update(awaiting_approval=None)
        assert await follower.step()  # approved: the pause before the next wave
        source.answer["waves"][str(second)] = "running"
        source.log += [("s2", second, "started"), ("s3", second, "started")]
        source.blobs["fleet/shards/s2/rows/b.json"] = _row(machines[1], "failed", "exit code 1")
        source.blobs["fleet/shards/s3/rows/c.json"] = _row(machines[2], "succeeded")
        await follower.step()
        source.log += [("s2", second, "done"), ("s3", second, "done")]
        source.blobs[shard_blob("s2")] = {"rows": [_row(machines[1], "failed", "exit code 1")]}
        source.blobs[shard_blob("s3")] = {"rows": [_row(machines[2], "succeeded"),
                                                   _row(machines[3], "timed_out")]}
        source.answer["waves"][str(second)] = "done"
        source.answer["status"] = "succeeded"
        await follower.step()

    asyncio.run(go())
    assert _said(events) == [
        f"wave {first} started", "m-00 succeeded", f"wave {first} done", "waiting for approval after wave 2",
        "pausing 30s before the next wave", f"wave {second} started", "m-01 failed", "m-02 succeeded",
        "m-03 timed_out", f"wave {second} done",
    ]
    # every row blob read once; each finished shard's result once
    assert sorted(source.reads) == sorted({*source.reads})
    failed = next(e for e in events if isinstance(e, JobEvent) and e.state == JobState.FAILED)
    assert failed.detail == "exit code 1" and failed.duration_s == 2.5
    assert failed.first_line == "hello from it"  # the -v line, as the embedded engine gives it


def test_breach_halts_skips_and_the_report_fills_the_rest() -> None:
    machines = _machines(5)
    plan = make_plan(machines, waves=[2, 3], rollout=RolloutPolicy(max_failures="0"))
    first, second = (w.index for w in plan.waves)
    source = FakeSource()
    follower, events, translator = _follower(source, plan)
    source.answer.update(waves={str(first): "halted", str(second): "skipped"}, status="halted",
                         breach_reason="1 failed machine exceeds the failure budget of 0")
    source.log += [("s1", first, "started"), ("s1", first, "done")]
    source.blobs[shard_blob("s1")] = {"rows": [_row(machines[0], "failed")]}  # m-01 never reported
    asyncio.run(follower.step())
    late = translator.unsaid([(job_key(machines[0], "apply"), JobState.FAILED, None),
                              (job_key(machines[1], "apply"), JobState.SKIPPED, "halted"),
                              (job_key(machines[2], "apply"), JobState.SKIPPED, "halted")])
    assert _said(events) == [
        f"wave {first} started", "m-00 failed", "rollout policy breached", f"wave {first} halted",
        f"wave {second} skipped", "m-02 skipped", "m-03 skipped", "m-04 skipped",
    ]
    assert _said(late) == ["m-01 skipped"]  # finished jobs and ones said already: never again
    progress = Progress(io.StringIO(), live=False, interval_s=0)
    progress.expect({first: 2, second: 3})
    for event in [*events, *late]:
        progress(event)
    assert progress.counts() == {"failed": 1, "skipped": 4}
    assert "all 5/5 jobs" in progress.line()


def test_continue_as_new_ends_the_running_shards_and_restarts_the_cursor() -> None:
    machines = _machines(2)
    plan = make_plan(machines, waves=[1, 1])
    first, second = (w.index for w in plan.waves)
    source = FakeSource()
    follower, events, _ = _follower(source, plan)
    source.answer["waves"] = {str(first): "running"}
    source.log += [("s1", first, "started")]
    asyncio.run(follower.step())
    # the next history: its own log, the first wave's shard gone from it
    source.blobs[shard_blob("s1")] = {"rows": [_row(machines[0], "succeeded")]}
    source.answer.update(epoch="r2", waves={str(first): "done", str(second): "running"})
    source.log = [("s2", second, "started")]
    source.blobs["fleet/shards/s2/rows/x.json"] = _row(machines[1], "succeeded")
    asyncio.run(follower.step())
    assert _said(events) == [f"wave {first} started", "m-00 succeeded", f"wave {first} done",
                             f"wave {second} started", "m-01 succeeded"]
    assert source.reads.count(shard_blob("s1")) == 1


def test_a_rollback_is_said_as_the_embedded_engine_says_it() -> None:
    machines = _machines(2)
    plan = make_plan(machines, rollout=RolloutPolicy(max_failures="0"), rollback=[("undo", "echo undo")])
    (only,) = (w.index for w in plan.waves)
    source = FakeSource()
    follower, events, _ = _follower(source, plan)
    source.answer.update(waves={str(only): "halted", "-1": "done"}, breach_reason="1 failed")
    source.log += [("s1", only, "started"), ("s1", only, "done"), ("r1", -1, "started"), ("r1", -1, "done")]
    source.blobs[shard_blob("s1")] = {"rows": [_row(machines[0], "failed"), _row(machines[1], "succeeded")]}
    undo = {**_row(machines[0], "succeeded"), "key": job_key(machines[0], "undo", True)}
    source.blobs[shard_blob("r1")] = {"rows": [undo]}
    asyncio.run(follower.step())
    assert _said(events) == [f"wave {only} started", "m-00 failed", "m-01 succeeded", "rollout policy breached",
                             f"wave {only} halted", "rolling back 2 machines", "wave -1 started",
                             "m-00 succeeded", "wave -1 done"]
    assert next(e for e in events if isinstance(e, JobEvent) and e.step == "undo").rollback


def test_heartbeats_show_sent_and_running_jobs_by_position_never_backwards() -> None:
    machines = _machines(3)
    plan = make_plan(machines)
    (only,) = (w.index for w in plan.waves)
    source = FakeSource()
    follower, events, _ = _follower(source, plan)
    source.answer["waves"] = {str(only): "running"}
    source.log.append(("s1", only, "started"))
    source.beats = [{"wave": only, "sent": [0, 1], "running": []}]
    asyncio.run(follower.step())
    source.beats = [{"wave": only, "sent": [0], "running": [1, 2]}]  # 0 stale: still sent
    asyncio.run(follower.step())
    source.blobs["fleet/shards/s1/rows/a.json"] = _row(machines[1], "succeeded")
    source.beats = [{"wave": only, "sent": [1], "running": [0, 99]}]  # 1 finished; 99: not a job
    asyncio.run(follower.step())
    assert _said(events) == [f"wave {only} started", "m-00 dispatched", "m-01 dispatched",
                             "m-01 running", "m-02 running", "m-01 succeeded", "m-00 running"]


def test_a_shards_in_flight_jobs_by_their_position_in_the_run() -> None:
    from fleet.production.inflight import InFlight
    from fleet.production.shards import cut_waves, shard_plan

    machines = _machines(4)
    plan = make_plan(machines, waves=[2, 2])
    second = plan.waves[1].index
    shard = cut_waves(plan, max_shard=10)[1].shards[0]
    seen = InFlight(plan, shard_plan(plan, second, shard), second)
    seen(JobEvent("m-02", "apply", JobState.DISPATCHED, second))
    seen(JobEvent("m-03", "apply", JobState.RUNNING, second))
    seen(JobEvent("m-00", "apply", JobState.RUNNING, second))  # not this shard's: ignored
    assert seen.detail() == {"wave": second, "sent": [2], "running": [3]}
    seen(JobEvent("m-03", "apply", JobState.SUCCEEDED, second))
    assert seen.detail() == {"wave": second, "sent": [2], "running": []}


def test_what_crosses_temporal_stays_small_at_20000_machines() -> None:
    import json

    from fleet.production.follow import SHARD_PAGE
    from fleet.production.inflight import InFlight
    from fleet.production.shards import DEFAULT_MAX_SHARD, cut_waves, shard_plan

    machines = [MachineRef(f"sub-{i % 4:08d}", "rg", f"m-{i:05d}", "eastus", "linux") for i in range(20_000)]
    plan = make_plan(machines, waves=[100, 1_900, 18_000])
    waves = cut_waves(plan, DEFAULT_MAX_SHARD)
    log = [(s.shard_id, w.index, what) for w in waves for s in w.shards for what in ("started", "done")]
    page = json.dumps({"shards": log[:SHARD_PAGE], "next": SHARD_PAGE, "more": True})
    assert len(page) < 16_000, len(page)  # one `follow` answer, whatever the run's size
    # a shard's heartbeat with every one of its jobs in flight
    wave = waves[-1]
    shard = max(wave.shards, key=lambda s: s.size)  # a full shard
    beat = InFlight(plan, shard_plan(plan, wave.index, shard), wave.index)
    for job in shard_plan(plan, wave.index, shard).jobs:
        beat(JobEvent(job.machine.name, job.step, JobState.RUNNING, wave.index))
    detail = json.dumps(beat.detail())
    assert len(beat.detail()["running"]) == shard.size == DEFAULT_MAX_SHARD
    assert len(detail) < 8 * DEFAULT_MAX_SHARD, len(detail)  # a few bytes per job in flight


def test_a_failed_read_loses_nothing() -> None:
    machines = _machines(2)
    plan = make_plan(machines)
    (only,) = (w.index for w in plan.waves)

    class Flaky(FakeSource):
        failures = 1

        async def read(self, name: str) -> Any:
            if name == shard_blob("s1") and self.failures:
                self.failures -= 1
                raise OSError("storage hiccup")
            return await super().read(name)

    source = Flaky()
    follower, events, _ = _follower(source, plan)
    source.answer["waves"] = {str(only): "done"}
    source.log += [("s1", only, "started"), ("s1", only, "done")]
    source.blobs[shard_blob("s1")] = {"rows": [_row(machines[0], "succeeded"), _row(machines[1], "failed")]}
    try:
        asyncio.run(follower.step())
    except OSError:
        pass
    assert _said(events) == [f"wave {only} started"]  # said before the read failed
    assert asyncio.run(follower.step())
    assert _said(events) == [f"wave {only} started", "m-00 succeeded", "m-01 failed", f"wave {only} done"]
