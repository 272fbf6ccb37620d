"""Scheduled sweeps on Temporal Schedules: the inputs (playbook and inventory) and every
firing's compliance matrix live in the schedule's own storage container; each firing plans
the sweep afresh (new run id, new nonce), runs it, and reports drift against the previous
firing's matrix."""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fleet.engine.session import execute_plan
from fleet.errors import UsageError
from fleet.production.artifacts import ArtifactStore
from fleet.production.model import SweepFiring, SweepSummary

__all__ = ["CATCHUP_WINDOW", "ScheduleSpec", "run_firing", "schedule_id", "slug_of"]

# A firing missed while the server was down runs late if it is at most this late; older
# ones are dropped (the next firing comes soon enough for a compliance sweep).
CATCHUP_WINDOW = timedelta(minutes=60)
PLAYBOOK_BLOB = "fleet/inputs/playbook.yaml"
INVENTORY_BLOB = "fleet/inputs/inventory.yaml"
HISTORY_PREFIX = "fleet/history/"


def slug_of(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:20].strip("-")
    if len(slug) < 3:
        raise UsageError(f"schedule name {name!r}: needs at least 3 letters or digits")
    return slug


def schedule_id(name: str) -> str:
    return f"fleet-sweep-{slug_of(name)}"


def store_id(name: str) -> str:
    """The storage container of a schedule (its inputs and history)."""
    return f"sweep-{slug_of(name)}"


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    name: str
    cron: str
    playbook: bytes
    inventory: bytes


async def run_firing(firing: SweepFiring, *, ctx: Any, store: ArtifactStore) -> SweepSummary:
    """One firing: inputs from storage, plan, run (the embedded engine), matrix and drift,
    history kept in storage."""
    from fleet.engine.sweep import run_sweep
    from fleet.inventory import load_inventory
    from fleet.plan.sweep import build_sweep
    from fleet.sweep.history import HistoryStore

    with tempfile.TemporaryDirectory(prefix="fleet-sweep-") as tmp:
        folder = Path(tmp)
        for blob, name, sha in ((PLAYBOOK_BLOB, "playbook.yaml", firing.sweep.playbook_sha256),
                                (INVENTORY_BLOB, "inventory.yaml", firing.sweep.inventory_sha256)):
            data = await store.get(blob)
            if data is None or hashlib.sha256(data).hexdigest() != sha:
                raise UsageError(f"schedule {firing.sweep.name}: its {name} is missing or changed")
            (folder / name).write_bytes(data)
        history = HistoryStore(folder / "history")
        names = sorted(await store.names(HISTORY_PREFIX))
        if names:  # only the previous firing matters for drift
            (folder / "history" / "sweeps").mkdir(parents=True, exist_ok=True)
            data = await store.get(names[-1])
            if data is not None:
                (folder / "history" / "sweeps" / names[-1].rsplit("/", 1)[-1]).write_bytes(data)
        sweep = await asyncio.to_thread(
            build_sweep, playbook_path=folder / "playbook.yaml",
            inventory=load_inventory(folder / "inventory.yaml"), limit=None, extra_vars={},
            run_id=firing.run_id)
        run_dir = folder / "run"

        async def engine(plan: Any) -> Any:
            return await execute_plan(plan, connection=ctx.connection, run_dir=run_dir,
                                      options=ctx.options, clock=ctx.clock, transport=ctx.transport)

        outcome = await run_sweep(sweep, execute=engine, run_dir=run_dir, history=history)
        if outcome.kept_as is not None:
            await store.put(HISTORY_PREFIX + outcome.kept_as.name, outcome.kept_as.read_bytes())
        for path in outcome.files.values():
            await store.put(f"fleet/runs/{firing.run_id}/{path.name}", path.read_bytes())
        report = run_dir / "report.json"
        if report.is_file():
            await store.put(f"fleet/runs/{firing.run_id}/report.json", report.read_bytes())
    drift = outcome.drift
    return SweepSummary(
        run_id=firing.run_id, exit_code=outcome.exit_code, machines=len(outcome.matrix.machines),
        counts=dict(outcome.matrix.counts()), newly_failing=len(drift.newly_failing) if drift else 0,
        drift=drift.summary() if drift else "no earlier sweep to compare with",
    )
