"""The plan as JSON (stable, for machines and golden tests) and as text (for people).

Secrets never appear: protected parameter values and the run-as password are ``***`` (with
where they come from, e.g. ``env:DEPLOY_PW``), and a SAS signature in a ``scriptUri`` is
shown as ``sig=***``. Same plan in, byte-identical ``dumps_plan`` out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fleet.plan.jsonout import write_json
from fleet.plan.model import Excluded, Job, Plan
from fleet.redact import mask_signatures
from fleet.report.recap import plural
from fleet.types import REDACTED, MachineOrigin, MachineRef, SecretRef

__all__ = ["PLAN_SCHEMA", "dumps_plan", "plan_to_json", "plan_to_text", "write_plan"]

PLAN_SCHEMA = "fleet.plan/1"
T = TypeVar("T")
def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return mask_signatures(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


def _secret(ref: SecretRef) -> dict[str, str]:
    source = "literal" if ref.scheme == "literal" else f"{ref.scheme}:{ref.ref}"
    return {"value": REDACTED, "from": source}


def _machine(machine: MachineRef) -> dict[str, str]:
    return {
        "name": machine.name,
        "id": machine.resource_id,
        "subscription_id": machine.subscription_id,
        "resource_group": machine.resource_group,
        "location": machine.location,
        "os_type": machine.os_type,
    }


def _job(job: Job) -> dict[str, Any]:
    upload = None
    if job.script_upload is not None:
        data = job.script_upload.encode()
        upload = {"size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return {
        "machine": job.machine.name,
        "machine_id": job.machine.resource_id,
        "step": job.step,
        "step_index": job.step_index,
        "wave": job.wave,
        "rollback": job.rollback,
        "run_command_name": job.run_command_name,
        "resource_path": f"{job.machine.resource_id}/runCommands/{job.run_command_name}",
        "output_blob": job.output_blob,
        "error_blob": job.error_blob,
        "request": _redact(job.request),
        "protected_parameters": [{"name": name, **_secret(ref)}
                                 for name, ref in job.protected_parameters],
        "run_as_password": None if job.run_as_password is None else _secret(job.run_as_password),
        "timeout_s": job.timeout_s,
        "success": {
            "exit_codes": list(job.success.exit_codes),
            "output_matches": list(job.success.output_must_match),
            "output_not_matches": list(job.success.output_must_not_match),
        },
        "when": job.when,
        "script_upload": upload,
    }


Listing = Callable[[Sequence[T], Callable[[T], Any]], list[Any]]


def _eager(items: Sequence[T], make: Callable[[T], Any]) -> list[Any]:
    return [make(item) for item in items]


class _Streamed(list[Any]):
    """A list that makes each item as the JSON encoder reaches it and keeps none: streamed, a
    10,000-job plan is never a whole-fleet tree of dicts (nor one 17 MB string) in memory.
    ``write_json`` writes exactly ``json.dumps``'s bytes."""

    __slots__ = ("_items", "_make")

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Any]) -> None:
        super().__init__()
        self._items = items
        self._make = make

    def __iter__(self) -> Iterator[Any]:
        return map(self._make, self._items)

    def __len__(self) -> int:
        return len(self._items)


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """A JSON-ready dict; key order is fixed, so ``json.dumps`` of it is stable."""
    return _plan_json(plan, _eager)


def _plan_json(plan: Plan, listing: Listing[Any]) -> dict[str, Any]:
    rollout = plan.rollout
    return {
        "schema": PLAN_SCHEMA,
        "run_id": plan.run_id,
        "playbook": {"name": plan.playbook.name, "path": plan.playbook.path,
                     "sha256": plan.playbook.sha256},
        "summary": {
            "machines": sum(len(w.machines) for w in plan.waves),
            "waves": len(plan.waves),
            "jobs": len(plan.jobs),
            "rollback_jobs": len(plan.rollback_jobs),
            "excluded": len(plan.excluded),
        },
        "rollout": {
            "max_concurrency": rollout.max_concurrency,
            "slow_start": rollout.slow_start,
            "max_failures": rollout.max_failures,
            "failures_per": rollout.failures_per,
            "max_unreachable": rollout.max_unreachable,
            "count_timeout_as_failure": rollout.count_timeout_as_failure,
            "on_breach": rollout.on_breach,
            "pause_s": rollout.pause_s,
            "approve": rollout.approve,
            "verify_step": rollout.verify_step,
            "rollback_on": rollout.rollback_on,
            "rollback_targets": rollout.rollback_targets,
        },
        "steps": [{"name": s.name, "when": s.when} for s in plan.steps],
        "rollback_steps": [{"name": s.name} for s in plan.rollback_steps],
        "waves": [
            {"index": w.index, "label": w.label, "machines": listing(w.machines, _machine)}
            for w in plan.waves
        ],
        "jobs": listing(plan.jobs, _job),
        "rollback_jobs": listing(plan.rollback_jobs, _job),
        "excluded": listing(plan.excluded, _excluded),
        "warnings": list(plan.warnings),
        # Only when some machine came from an Azure source: plans of static files are unchanged.
        **({"inventory_sources": [_origin(o) for o in plan.origins]} if plan.origins else {}),
    }


def _excluded(excluded: Excluded) -> dict[str, Any]:
    return {"machine": _machine(excluded.machine), "reason": excluded.reason}


def _origin(origin: MachineOrigin) -> dict[str, Any]:
    return {"machine": origin.machine.name, "machine_id": origin.machine.resource_id,
            "source": origin.source, "snapshot_at": origin.snapshot_at,
            "status": origin.status, "from_cache": origin.from_cache}


def dumps_plan(plan: Plan) -> str:
    """The plan as JSON text (two-space indent, trailing newline)."""
    parts: list[str] = []
    write_plan(plan, parts.append)
    return "".join(parts)


def write_plan(plan: Plan, write: Callable[[str], object]) -> None:
    """``dumps_plan``'s text, handed to ``write`` piece by piece as it is made."""
    write_json(_plan_json(plan, _Streamed), write)
    write("\n")


def plan_to_text(plan: Plan, *, full: bool = False) -> str:
    """What a person reads before saying yes: waves, then the requests. Compact (default):
    each step's request once, then one line per machine with what differs from it. ``full``:
    every job's exact request."""
    data = plan_to_json(plan)
    summary = data["summary"]
    lines = [
        f"plan {plan.run_id}: {plan.playbook.name} ({plan.playbook.path})",
        f"  {plural(summary['machines'], 'machine')} in {plural(summary['waves'], 'wave')}, "
        f"{plural(summary['jobs'], 'job')}, {plural(summary['rollback_jobs'], 'rollback job')}, "
        f"{summary['excluded']} excluded",
        "  steps: " + ", ".join(s.name + (f" (when: {s.when})" if s.when else "")
                                for s in plan.steps),
    ]
    if plan.origins:
        sources = sorted({(o.source, o.snapshot_at, o.from_cache) for o in plan.origins})
        lines.append(f"  inventory: {plural(len(plan.origins), 'machine')} from Azure: " + ", ".join(
            f"{source} at {at}" + (" (cached)" if cached else "") for source, at, cached in sources))
    rollout = data["rollout"]
    lines.append("  rollout: " + ", ".join(f"{k}={v}" for k, v in rollout.items()
                                           if v is not None))
    templates = _templates(data["jobs"] + data["rollback_jobs"]) if not full else {}
    for (step, rollback), variants in templates.items():
        for job in variants:
            lines.append("")
            lines.append(f"request of step {step!r}{' (rollback)' if rollback else ''}, as sent to "
                         f"{job['machine']} (other machines: what differs, below):")
            lines.extend(_job_text(job))
    for wave in plan.waves:
        lines.append("")
        lines.append(f"wave {wave.index + 1}/{len(plan.waves)} [{wave.label}]: "
                     f"{plural(len(wave.machines), 'machine')}")
        for job in (j for j in data["jobs"] if j["wave"] == wave.index):
            lines.extend(_job_diff(job, templates) if not full else _job_text(job))
    if data["rollback_jobs"]:
        lines.append("")
        lines.append("rollback (run only when the rollout policy calls for it):")
        for job in data["rollback_jobs"]:
            lines.extend(_job_diff(job, templates) if not full else _job_text(job))
    if not full:
        lines.append("")
        lines.append("(every request in full: fleet plan --full, or --format json)")
    if plan.excluded:
        lines.append("")
        lines.append("excluded:")
        lines.extend(f"  {e.machine.name}: {e.reason}" for e in plan.excluded)
    if plan.warnings:
        lines.append("")
        lines.append("warnings:")
        lines.extend(f"  - {w}" for w in plan.warnings)
    return "\n".join(lines) + "\n"


MAX_VARIANTS = 3  # a step's scripts for Windows and for Linux are each shown once


def _script(job: dict[str, Any]) -> Any:
    return job["request"].get("properties", {}).get("source")


def _templates(jobs: list[dict[str, Any]]) -> dict[tuple[str, bool], list[dict[str, Any]]]:
    """Per step, the requests shown in full: the first job, and the first of each other script
    (one per OS, typically), up to MAX_VARIANTS; every other job is a line of differences."""
    out: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for job in jobs:
        variants = out.setdefault((job["step"], bool(job.get("rollback"))), [])
        if len(variants) < MAX_VARIANTS and all(_script(v) != _script(job) for v in variants):
            variants.append(job)
    return out


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        return {f"{prefix}[{i['name']}]": i.get("value") for i in value}  # parameters by name
    return {prefix: value}


def _job_diff(
    job: dict[str, Any], templates: dict[tuple[str, bool], list[dict[str, Any]]]
) -> list[str]:
    """One line: the machine, the step, and what its request has that the step's shown one
    (with the same script, else the first) has not (values cut to 40 characters, at most 4)."""
    variants = templates[(job["step"], bool(job.get("rollback")))]
    template = next((v for v in variants if _script(v) == _script(job)), variants[0])
    head = f"  {job['machine']} / {job['step']}"
    if job is template:
        return [f"{head}: the request above"]
    mine, theirs = _flat(job["request"]), _flat(template["request"])
    keys = [k for k in mine if mine[k] != theirs.get(k)] + [k for k in theirs if k not in mine]
    if job["when"] != template["when"] and job["when"]:
        keys.insert(0, "when")
        mine["when"] = job["when"]

    def shown(key: str) -> str:
        value = mine.get(key, "(absent)")
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = " ".join(text.split())
        return f"{key}={text if len(text) <= 40 else text[:39] + '…'}"

    if not keys:
        return [f"{head}: same request"]
    more = f" (+{len(keys) - 4} more)" if len(keys) > 4 else ""
    return [f"{head}: " + ", ".join(shown(k) for k in keys[:4]) + more]


def _job_text(job: dict[str, Any]) -> list[str]:
    out = [f"  {job['machine']} / {job['step']}: PUT {job['resource_path']}"]
    if job["when"]:
        out.append(f"    when: {job['when']}")
    for name_value in job["protected_parameters"]:
        out.append(f"    protected {name_value['name']} = *** ({name_value['from']})")
    if job["run_as_password"]:
        out.append(f"    run as password = *** ({job['run_as_password']['from']})")
    if job["script_upload"]:
        out.append(f"    script uploaded: {job['script_upload']['size_bytes']} bytes")
    body = json.dumps(job["request"], indent=2, ensure_ascii=False)
    out.extend("    " + line for line in body.splitlines())
    return out
