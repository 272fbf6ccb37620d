"""``fleet resume`` continues the run that was started, or refuses (issue #13, A4).

The plan is rebuilt from the recorded inputs (playbook, inventory, limit, extra vars, seed);
anything an edit since then would change about *who runs what, when, under which policy* is a
one-line error naming it: a machine added or gone, a job moved to another wave, a rollout key
changed, a request that would send something else. Nothing is silently re-targeted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from fleet.errors import RunFolderError
from fleet.journal import Journal, job_key
from fleet.plan.model import Job, Plan

__all__ = ["check_unchanged", "policy_json"]

_SHOWN = 3


def policy_json(plan: Plan) -> str:
    """The rollout policy as recorded in the journal (``rollout_policy``)."""
    return json.dumps(dataclasses.asdict(plan.rollout), sort_keys=True)


def _names(keys: Sequence[str], name_of: Callable[[str], str]) -> str:
    shown = sorted({name_of(k) for k in keys})
    more = f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else ""
    return ", ".join(shown[:_SHOWN]) + more


def check_unchanged(plan: Plan, journal: Journal, run_dir: Path, request_sha256: Callable[[Job], str]) -> None:
    """Raise ``RunFolderError`` (one line, naming what changed) unless ``plan`` targets the
    same jobs, in the same waves, under the same rollout policy, with the same requests and
    run command names as the run in ``journal``."""
    fix = "resume runs the plan the run started with: restore the inputs, or start a new run"
    meta = journal.meta()
    recorded = meta.get("rollout_policy")
    if recorded:
        before, now = json.loads(recorded), json.loads(policy_json(plan))
        changed = [f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in sorted(now)
                   if before.get(k) != now.get(k)]
        if changed:
            raise RunFolderError(f"{run_dir}: the rollout policy changed since the run started "
                                 f"({'; '.join(changed[:_SHOWN])}); {fix}")
    rows = {row.job_key: row for row in journal.jobs()}
    jobs = {job_key(j.machine, j.step, j.rollback): j for j in (*plan.jobs, *plan.rollback_jobs)}
    names = {k: r.machine.name for k, r in rows.items()} | {k: j.machine.name for k, j in jobs.items()}
    gone = [k for k in rows if k not in jobs]
    added = [k for k in jobs if k not in rows]
    if gone or added:
        parts = ([f"no longer selected: {_names(gone, names.__getitem__)}"] if gone else []) + (
            [f"newly selected: {_names(added, names.__getitem__)}"] if added else [])
        raise RunFolderError(f"{run_dir}: the inventory, limit or playbook changed which machines "
                             f"or steps run ({'; '.join(parts)}); {fix}")
    moved = [k for k, j in jobs.items() if rows[k].wave != j.wave]
    if moved:
        raise RunFolderError(f"{run_dir}: the waves changed since the run started "
                             f"({_names(moved, names.__getitem__)} would move to another wave); {fix}")
    hashes = journal.request_hashes()
    for key, job in jobs.items():
        if hashes.get(key) != request_sha256(job) or rows[key].run_command_name != job.run_command_name:
            raise RunFolderError(
                f"{run_dir}: the playbook, inventory or variables changed since the run started "
                f"({job.machine.name}, step {job.step!r} would send something else); {fix}")
