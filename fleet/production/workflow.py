"""The rollout workflow: waves in order, each cut into shards (activities); budgets, breach
actions, pauses (durable timers), the approval gate (an update) and cancellation.

Deterministic by construction: no I/O, no clock but ``workflow.now``/``workflow.sleep``; all
work happens in activities (``fleet.production.activities``). Only small summaries pass
through here, never a per-machine output or a secret. A long run continues as new at a wave
boundary before its history grows past ``HISTORY_SOFT_LIMIT`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from fleet.engine.amounts import resolve_amount
    from fleet.production.budget import stamped
    from fleet.production.model import (
        ROLLBACK_WAVE,
        FinalizeInput,
        RunInput,
        RunSummary,
        ShardInput,
        ShardSpec,
        ShardSummary,
        WaveSpec,
    )

__all__ = ["HISTORY_SOFT_LIMIT", "WORKFLOW_NAME", "RolloutWorkflow"]

WORKFLOW_NAME = "FleetRollout"
HISTORY_SOFT_LIMIT = 2_000
SHARD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                          maximum_interval=timedelta(seconds=30),
                          non_retryable_error_types=["UsageError", "PlanMismatch"])


@workflow.defn(name=WORKFLOW_NAME)
class RolloutWorkflow:
    def __init__(self) -> None:
        self._inp: RunInput | None = None
        self._wave_states: dict[str, str] = {}
        self._skip_reasons: dict[str, str] = {}
        self._states: Counter[str] = Counter()
        self._failed_run = 0
        self._unreachable_run = 0
        self._failed_wave = 0
        self._unreachable_wave = 0
        self._live: dict[str, tuple[int, int]] = {}
        self._breach_reason: str | None = None
        self._stopped: str | None = None
        self._awaiting: int | None = None
        self._approved_through = -1
        self._arm_requests = 0
        self._current_wave: int | None = None
        self._result: RunSummary | None = None
        self._started: dict[int, tuple[WaveSpec, list[ShardSpec]]] = {}
        self._shard_log: list[tuple[str, int, str]] = []  # (shard, wave, started|done): `follow`
        self._done: set[str] = set()  # shards whose result the workflow has
        self._buckets: dict[str, dict[str, float]] = {}  # subscription -> its buckets, handed on

    # -- what clients see and send ---------------------------------------------------------
    @workflow.query
    def progress(self) -> dict[str, Any]:
        return {
            "status": self._status(),
            "waves": dict(self._wave_states),
            "current_wave": self._current_wave,
            "machines": dict(self._states),
            "awaiting_approval": self._awaiting,
            "breach_reason": self._breach_reason,
            "stopped": self._stopped,
            "result": dataclasses.asdict(self._result) if self._result else None,
        }

    @workflow.query
    def follow(self, after: int) -> dict[str, Any]:
        """``progress`` plus the shards started or finished since the cursor ``after`` (at most
        200 per answer; ``epoch`` changes when the run continues as new and the cursor restarts)."""
        page = self._shard_log[max(0, after):max(0, after) + 200]
        return {**self.progress(), "epoch": workflow.info().run_id, "shards": page,
                "next": max(0, after) + len(page), "more": max(0, after) + len(page) < len(self._shard_log)}

    @workflow.query
    def halt_reason(self) -> str | None:
        inp = self._inp
        if self._breach_reason and inp is not None and inp.on_breach != "continue":
            return f"another shard breached the budget: {self._breach_reason}"
        return None

    @workflow.signal
    def shard_counts(self, shard_id: str, failed: int, unreachable: int) -> None:
        if shard_id in self._live:
            self._live[shard_id] = (failed, unreachable)
            self._check_budgets()

    @workflow.update
    def approve(self) -> int:
        waiting = self._awaiting
        if waiting is not None:  # a second approve right after this one finds no gate
            self._approved_through = max(self._approved_through, waiting)
            self._awaiting = None
        return -1 if waiting is None else waiting

    @approve.validator
    def _validate_approve(self) -> None:
        if self._awaiting is None:
            raise ValueError("the run is not waiting for approval")

    # -- the run ---------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: RunInput) -> RunSummary:
        self._inp = inp
        self._restore(inp)
        try:
            for position in range(inp.start_wave, len(inp.waves)):
                wave = inp.waves[position]
                if self._stopped:
                    break
                if self._halted():
                    self._wave_states[str(wave.index)] = "skipped"
                    self._skip_reasons[str(wave.index)] = "halted by the rollout policy"
                    continue
                needed = await self._run_wave(wave)
                if position == len(inp.waves) - 1 or self._breach_reason is not None:
                    continue
                if inp.approve and wave.index > self._approved_through:
                    self._awaiting = gate = wave.index
                    await workflow.wait_condition(lambda g=gate: self._approved_through >= g)  # type: ignore[misc]
                    self._awaiting = None
                if inp.pause_s > 0 and needed:
                    await workflow.sleep(timedelta(seconds=inp.pause_s * inp.time_scale))
                if workflow.info().get_current_history_length() > inp.history_limit:
                    workflow.continue_as_new(self._carry(inp, position + 1))
            # The embedded mode's rule: after the waves, a breach rolls back (unless stopped).
            # Only plans with rollback shards reach the marker: older runs replay unchanged.
            if (inp.rollback_shards and self._breach_reason is not None and not self._stopped
                    and workflow.patched("rollback-steps")):
                await self._run_rollback(inp)
        except (asyncio.CancelledError, ActivityError) as error:
            # `fleet cancel`: the shards were told (each deleted its in-flight commands). A
            # shard whose attempt was dead (timed out after the cancel) ends in an error here.
            if not is_cancelled_exception(error) and not _cancel_requested():
                raise
            self._stopped = "canceled"
            self._awaiting = None
            await self._stop_left_shards()
        self._current_wave = None
        summary: RunSummary = await workflow.execute_activity(
            "finalize_run",
            FinalizeInput(
                run_id=inp.run_id, plan_blob=inp.plan_blob, plan_sha256=inp.plan_sha256,
                wave_states=self._wave_states, skip_reasons=self._skip_reasons,
                breached=self._breach_reason is not None, breach_reason=self._breach_reason,
                on_breach=inp.on_breach, stopped=self._stopped, arm_requests=self._arm_requests,
                started=[dataclasses.replace(w, shards=s) for w, s in self._started.values()],
            ),
            result_type=RunSummary,
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=SHARD_RETRY,
        )
        self._result = summary
        return summary

    async def _run_wave(self, wave: WaveSpec) -> bool:
        assert self._inp is not None
        key = str(wave.index)
        self._current_wave = wave.index
        self._wave_states[key] = "running"
        self._failed_wave = self._unreachable_wave = 0
        lanes: dict[str, list[ShardSpec]] = {}
        for shard in wave.shards:
            lanes.setdefault(shard.subscription_id, []).append(shard)
        needed = [False]

        async def lane(shards: list[ShardSpec]) -> None:
            for shard in shards:
                if self._halted() or self._stopped:
                    return
                summary = await self._run_shard(wave, shard)
                needed[0] = needed[0] or summary.needed_work

        try:
            await asyncio.gather(*(lane(s) for s in lanes.values()))
        except (asyncio.CancelledError, ActivityError):
            self._wave_states[key] = "stopped"
            raise
        if self._halted():
            self._skip_reasons[key] = "halted by the rollout policy"
        self._wave_states[key] = "halted" if self._breach_reason is not None else "done"
        return needed[0]

    async def _run_rollback(self, inp: RunInput) -> None:
        """The rollback as a wave of its own (-1): each subscription's rollback shards one
        after another, subscriptions side by side; each shard picks its targets from the wave
        shards' results, as the embedded rollback does from its journal."""
        key = str(ROLLBACK_WAVE)
        self._current_wave = ROLLBACK_WAVE
        self._wave_states[key] = "running"
        wave = WaveSpec(ROLLBACK_WAVE, "rollback", sum(s.size for s in inp.rollback_shards), [])
        lanes: dict[str, list[ShardSpec]] = {}
        for shard in inp.rollback_shards:
            lanes.setdefault(shard.subscription_id, []).append(shard)

        async def lane(shards: list[ShardSpec]) -> None:
            for shard in shards:
                if self._stopped:
                    return
                await self._run_shard(wave, shard, rollback_reason=self._breach_reason)

        try:
            await asyncio.gather(*(lane(s) for s in lanes.values()))
        except (asyncio.CancelledError, ActivityError):
            self._wave_states[key] = "stopped"
            raise
        self._wave_states[key] = "done"

    async def _stop_left_shards(self) -> None:
        """After the run's cancel: every started shard that left no result may have sent
        commands no live attempt watches (its worker died; its retry had not started when the
        cancel came). A ``cancel_shard`` activity each stops them (DELETE) and writes the
        shard's result, shielded from a second cancel: nothing sent is left running or
        reported as never sent. Runs canceled before this existed replay unchanged."""
        left = [(wave, shard) for wave, shards in self._started.values() for shard in shards
                if shard.shard_id not in self._done]
        if not left or not workflow.patched("cancel-cleanup"):
            return
        inp = self._inp
        assert inp is not None

        async def one(wave: WaveSpec, shard: ShardSpec) -> None:
            reason = self._breach_reason if wave.index == ROLLBACK_WAVE else None
            summary: ShardSummary = await workflow.execute_activity(
                "cancel_shard", self._shard_input(wave, shard, reason), result_type=ShardSummary,
                start_to_close_timeout=timedelta(days=1),
                heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_s),
                retry_policy=SHARD_RETRY,
            )
            self._done.add(shard.shard_id)
            self._arm_requests += summary.arm_requests

        cleanup = asyncio.ensure_future(asyncio.gather(*(one(w, s) for w, s in left)))
        while not cleanup.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(cleanup)
        cleanup.result()

    def _shard_input(self, wave: WaveSpec, shard: ShardSpec, rollback_reason: str | None) -> ShardInput:
        inp = self._inp
        assert inp is not None
        others = [v for k, v in self._live.items() if k != shard.shard_id]
        others_failed = sum(f for f, _ in others)
        others_unreachable = sum(u for _, u in others)
        return ShardInput(
            run_id=inp.run_id, plan_blob=inp.plan_blob, plan_sha256=inp.plan_sha256,
            wave=wave.index, shard=shard, wave_size=wave.machines, run_size=inp.total_machines,
            failed_in_wave=self._failed_wave + others_failed,
            failed_in_run=self._failed_run + others_failed,
            unreachable_in_wave=self._unreachable_wave + others_unreachable,
            unreachable_in_run=self._unreachable_run + others_unreachable,
            time_scale=inp.time_scale, rollback_reason=rollback_reason,
            bucket_tokens=self._buckets.get(shard.subscription_id),
        )

    async def _run_shard(self, wave: WaveSpec, shard: ShardSpec, *,
                         rollback_reason: str | None = None) -> ShardSummary:
        inp = self._inp
        assert inp is not None
        shard_input = self._shard_input(wave, shard, rollback_reason)
        self._live[shard.shard_id] = (0, 0)
        self._started.setdefault(wave.index, (wave, []))[1].append(shard)
        self._shard_log.append((shard.shard_id, wave.index, "started"))
        try:
            summary: ShardSummary = await workflow.execute_activity(
                "run_shard", shard_input,
                result_type=ShardSummary,
                start_to_close_timeout=timedelta(days=7),
                heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_s),
                retry_policy=SHARD_RETRY,
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        finally:
            self._live.pop(shard.shard_id, None)
            self._shard_log.append((shard.shard_id, wave.index, "done"))
        self._done.add(shard.shard_id)
        self._arm_requests += summary.arm_requests
        self._hand_over(shard.subscription_id, summary)
        if rollback_reason is not None:  # rollback rows never count against the budgets
            return summary
        self._failed_wave += summary.failed
        self._failed_run += summary.failed
        self._unreachable_wave += summary.unreachable
        self._unreachable_run += summary.unreachable
        self._states.update(summary.states)
        if summary.breached and self._breach_reason is None:
            self._breach_reason = summary.breach_reason or "a shard breached the rollout policy"
        self._check_budgets()
        return summary

    def _hand_over(self, subscription_id: str, summary: ShardSummary) -> None:
        """The subscription's next shard starts from the buckets this one left, stamped with
        the workflow's (server) time: fleet.production.budget."""
        left = stamped(summary.tokens_left, workflow.now().timestamp())
        if left is not None:
            self._buckets[subscription_id] = left

    # -- budgets (the engine's rule: a budget trips when its count exceeds it) --------------
    def _halted(self) -> bool:
        assert self._inp is not None
        return self._breach_reason is not None and self._inp.on_breach != "continue"

    def _check_budgets(self) -> None:
        inp = self._inp
        if inp is None or self._breach_reason is not None or self._current_wave is None:
            return
        wave = next(w for w in inp.waves if w.index == self._current_wave)
        per_wave = inp.failures_per == "wave"
        live_failed = sum(f for f, _ in self._live.values())
        live_unreachable = sum(u for _, u in self._live.values())
        for what, value, in_wave, in_run in (
            ("failed", inp.max_failures, self._failed_wave + live_failed, self._failed_run + live_failed),
            ("unreachable", inp.max_unreachable, self._unreachable_wave + live_unreachable,
             self._unreachable_run + live_unreachable),
        ):
            budget = resolve_amount(value, wave.machines if per_wave else inp.total_machines)
            count = in_wave if per_wave else in_run
            if budget is not None and count > budget:
                kind = "failure" if what == "failed" else what
                self._breach_reason = f"{count} {what} machine(s) exceed the {kind} budget of {budget}"
                return

    # -- state across continue-as-new ------------------------------------------------------
    def _status(self) -> str:
        if self._result is not None:
            return self._result.status
        if self._stopped:
            return "stopping"
        if self._awaiting is not None:
            return "awaiting_approval"
        return "running"

    def _restore(self, inp: RunInput) -> None:
        carried = inp.carried
        self._failed_run = carried.get("failed_run", 0)
        self._unreachable_run = carried.get("unreachable_run", 0)
        self._arm_requests = inp.arm_requests
        self._buckets = dict(inp.buckets)
        self._wave_states = dict(inp.wave_states)
        self._breach_reason = inp.breach_reason
        self._approved_through = inp.approved_through
        self._states = Counter({k[6:]: v for k, v in carried.items() if k.startswith("state:")})
        self._skip_reasons = {k[5:]: "halted by the rollout policy" for k in carried if k.startswith("skip:")}

    def _carry(self, inp: RunInput, next_wave: int) -> RunInput:
        carried = {"failed_run": self._failed_run, "unreachable_run": self._unreachable_run,
                   **{f"state:{k}": v for k, v in self._states.items()},
                   **{f"skip:{k}": 1 for k in self._skip_reasons}}
        return dataclasses.replace(
            inp, start_wave=next_wave, carried=carried, wave_states=dict(self._wave_states),
            breach_reason=self._breach_reason, approved_through=self._approved_through,
            arm_requests=self._arm_requests, buckets=dict(self._buckets),
        )


def _cancel_requested() -> bool:
    """The workflow's own task was canceled (``fleet cancel``), whatever error its await ended
    with (a shard attempt that died times out instead of confirming the cancel)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
