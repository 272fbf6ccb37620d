"""``fleet sweep schedule …`` on the client side: create, list, describe, trigger, pause and
delete the Temporal Schedule of a scheduled sweep."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from fleet.clock import parse_time_scale
from fleet.errors import RunFolderError, UsageError
from fleet.production.artifacts import ArtifactStore
from fleet.production.connect import TemporalTarget, connect
from fleet.production.model import SweepInput
from fleet.production.scheduled import (
    CATCHUP_WINDOW,
    INVENTORY_BLOB,
    PLAYBOOK_BLOB,
    ScheduleSpec,
    schedule_id,
    slug_of,
    store_id,
)
from fleet.production.sweep_workflow import SWEEP_WORKFLOW_NAME

__all__ = ["create_schedule", "delete_schedule", "describe_schedule", "list_schedules",
           "pause_schedule", "trigger_schedule"]


async def create_schedule(spec: ScheduleSpec, target: TemporalTarget, *, connection_string: str | None,
                          account_url: str | None, interval_s: float | None = None) -> str:
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
    )
    from temporalio.client import (
        ScheduleSpec as TemporalSpec,
    )

    async with ArtifactStore.open(run_id=store_id(spec.name), connection_string=connection_string,
                                  account_url=account_url) as store:
        await store.prepare()
        await store.put(PLAYBOOK_BLOB, spec.playbook)
        await store.put(INVENTORY_BLOB, spec.inventory)
    text = os.environ.get("FLEET_TIME_SCALE", "").strip()
    try:
        scale = parse_time_scale(text) if text else 1.0
    except ValueError as error:
        raise UsageError(f"FLEET_TIME_SCALE: {error}") from None
    inp = SweepInput(name=spec.name, slug=slug_of(spec.name),
                     playbook_sha256=hashlib.sha256(spec.playbook).hexdigest(),
                     inventory_sha256=hashlib.sha256(spec.inventory).hexdigest(), time_scale=scale)
    when = (TemporalSpec(intervals=[ScheduleIntervalSpec(every=_seconds(interval_s))])
            if interval_s else TemporalSpec(cron_expressions=[spec.cron]))
    client = await connect(target)
    sid = schedule_id(spec.name)
    try:
        await client.create_schedule(sid, Schedule(
            action=ScheduleActionStartWorkflow(SWEEP_WORKFLOW_NAME, inp, id=f"{sid}-firing",
                                               task_queue=target.task_queue),
            spec=when,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        ))
    except ScheduleAlreadyRunningError:
        raise UsageError(f"schedule {spec.name!r} exists already (delete it first)") from None
    return sid


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


async def list_schedules(target: TemporalTarget) -> list[dict[str, Any]]:
    client = await connect(target)
    found = []
    async for entry in await client.list_schedules():
        if entry.id.startswith("fleet-sweep-"):
            found.append({"id": entry.id})
    return found


async def describe_schedule(target: TemporalTarget, name: str) -> dict[str, Any]:
    from temporalio.service import RPCError

    client = await connect(target)
    try:
        desc = await client.get_schedule_handle(schedule_id(name)).describe()
    except RPCError as error:
        raise RunFolderError(f"schedule {name!r}: {error.message}") from None
    info = desc.info
    return {
        "id": desc.id,
        "paused": desc.schedule.state.paused,
        "overlap": "skip",
        "catchup_window_s": CATCHUP_WINDOW.total_seconds(),
        "cron": list(desc.schedule.spec.cron_expressions),
        "fired": info.num_actions,
        "skipped_overlapping": info.num_actions_skipped_overlap,
        "recent": [a.action.workflow_id for a in info.recent_actions
                   if hasattr(a.action, "workflow_id")],
        "next": [t.isoformat() for t in info.next_action_times[:3]],
    }


async def trigger_schedule(target: TemporalTarget, name: str) -> None:
    client = await connect(target)
    await client.get_schedule_handle(schedule_id(name)).trigger()


async def pause_schedule(target: TemporalTarget, name: str, pause: bool = True) -> None:
    client = await connect(target)
    handle = client.get_schedule_handle(schedule_id(name))
    if pause:
        await handle.pause(note="paused with fleet sweep schedule pause")
    else:
        await handle.unpause(note="resumed with fleet sweep schedule pause --resume")


async def delete_schedule(target: TemporalTarget, name: str) -> None:
    client = await connect(target)
    await client.get_schedule_handle(schedule_id(name)).delete()
