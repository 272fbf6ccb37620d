"""The follower's real source (the workflow's ``follow`` query, the run's storage) and its
polling loop: one query and a few reads a second while things change, backing off to one poll
every ``max_every_s`` while nothing does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from fleet.engine.events import Event
from fleet.production.artifacts import ArtifactStore
from fleet.production.client import Storage
from fleet.production.connect import TemporalTarget, connect
from fleet.production.follow import Follower, Translator
from fleet.production.model import RunSummary

__all__ = ["Approver", "TemporalRunSource", "follow_run", "in_flight"]

# A poll that gets no answer (a busy or absent worker for the query) is skipped, not waited on.
RPC_TIMEOUT = timedelta(seconds=10)


class TemporalRunSource:
    """``RunSource`` over a workflow handle and the run's ``ArtifactStore``."""

    def __init__(self, handle: Any, store: ArtifactStore) -> None:
        self._handle = handle
        self._store = store

    async def follow(self, after: int) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = await self._handle.query("follow", after, rpc_timeout=RPC_TIMEOUT)
        return answer

    async def row_names(self, shard_id: str) -> Sequence[str]:
        return await self._store.names(f"fleet/shards/{shard_id}/rows/")

    async def read(self, name: str) -> Any:
        data = await self._store.get(name)
        return json.loads(data) if data is not None else None

    async def in_flight(self) -> Sequence[Mapping[str, Any]]:
        return await in_flight(self._handle)


async def in_flight(handle: Any) -> list[Mapping[str, Any]]:
    """The running shards' last heartbeats, from a describe (no worker involved)."""
    described = await handle.describe(rpc_timeout=RPC_TIMEOUT)
    found: list[Mapping[str, Any]] = []
    for pending in described.raw_description.pending_activities:
        payloads = pending.heartbeat_details.payloads
        if pending.activity_type.name != "run_shard" or not payloads:
            continue
        values = await described.data_converter.decode(payloads)
        if values and isinstance(values[0], Mapping):
            found.append(values[0])
    return found


Approver = Callable[[int, str], Awaitable[bool]]


def _raise_if_cancelled() -> None:
    """Ctrl-C cancels the following task; a library that catches the CancelledError and raises
    an error of its own (an RPC error, a storage error) must not make the loop go on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def follow_run(run_id: str, target: TemporalTarget, storage: Storage, translator: Translator,
                     emit: Callable[[Event], None], *, approver: Approver | None = None,
                     every_s: float = 1.0, max_every_s: float = 5.0) -> RunSummary | None:
    """Follow the run until its workflow ends; every event goes to ``emit``. Returns its
    result, or None when ``approver`` (a terminal's question, as in the embedded mode)
    declined a gate: the run waits there, durably, for ``fleet resume --approve``."""
    client = await connect(target)
    handle = client.get_workflow_handle(run_id, result_type=RunSummary)
    result = asyncio.ensure_future(handle.result())
    # Ctrl-C stops following through an event of our own, not only by cancelling this task: a
    # cancellation can be swallowed where it meets a library's timeout (seen: one Ctrl-C left
    # the follower running, idle in select, for over 60 s), an event cannot.
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
        handled = True
    try:
        async with storage.store(run_id) as store:
            follower = Follower(TemporalRunSource(handle, store), translator, emit)
            wait_s = every_s
            asked: set[int] = set()
            while not result.done():
                if interrupted.is_set():
                    raise KeyboardInterrupt
                _raise_if_cancelled()
                try:
                    changed = await follower.step()
                except Exception:  # a query can time out on a busy worker, a read fail: next poll
                    _raise_if_cancelled()  # ... but a cancellation (Ctrl-C) a library turned
                    changed = False        # into an ordinary error still stops following
                gate = follower.last.get("awaiting_approval")
                if approver is not None and isinstance(gate, int) and gate not in asked:
                    asked.add(gate)
                    if not await approver(gate, translator.label_after(gate)):
                        emit(translator.waiting(gate))
                        return None
                    with contextlib.suppress(Exception):  # approved meanwhile (or not waiting)
                        await handle.execute_update("approve", result_type=int)
                    changed = True
                wait_s = every_s if changed else min(max_every_s, wait_s * 1.5)
                stop = asyncio.ensure_future(interrupted.wait())
                await asyncio.wait({result, stop}, timeout=wait_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
            summary: RunSummary = result.result()
            try:  # the last shards' rows and the waves' final states
                await follower.step()
            except Exception:  # the report still has every state (``Translator.unsaid``)
                pass
            return summary
    finally:
        result.cancel()
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
