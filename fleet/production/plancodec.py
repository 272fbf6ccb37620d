"""The rendered plan as a lossless, secret-free document, so workers on other hosts run exactly
what ``fleet run`` planned. Secrets stay references (``env:NAME``, ``file:PATH``) that each
worker resolves at dispatch; an inline (``literal``) secret or a SAS signature in a request is
refused, because the document is stored in the storage account and read by every worker."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from fleet.errors import UsageError
from fleet.plan.model import Job, Plan, PlaybookInfo, StepInfo, Success, Wave
from fleet.redact import mask_signatures
from fleet.types import MachineRef, RolloutPolicy, SecretRef

__all__ = ["PLAN_DOC_SCHEMA", "decode_plan", "encode_plan"]

PLAN_DOC_SCHEMA = "fleet.production.plan/1"


def _machine(m: MachineRef) -> list[str]:
    return [m.subscription_id, m.resource_group, m.name, m.location, m.os_type]


def _secret(ref: SecretRef, where: str) -> str:
    if ref.scheme == "literal":
        raise UsageError(
            f"{where}: an inline secret cannot go into production mode (the plan is stored for "
            "the workers); use env:NAME or file:PATH, which each worker resolves itself"
        )
    return f"{ref.scheme}:{ref.ref}"


def _job(job: Job) -> dict[str, Any]:
    where = f"{job.machine.name} step {job.step!r}"
    request = json.dumps(job.request, sort_keys=True)
    if mask_signatures(request) != request:
        raise UsageError(f"{where}: the request carries a SAS signature; production mode stores "
                         "the plan, so give the script inline or let fleet upload it")
    return {
        "m": _machine(job.machine),
        "step": job.step,
        "step_index": job.step_index,
        "wave": job.wave,
        "name": job.run_command_name,
        "out": job.output_blob,
        "err": job.error_blob,
        "request": job.request,
        "timeout_s": job.timeout_s,
        "success": [list(job.success.exit_codes), list(job.success.output_must_match),
                    list(job.success.output_must_not_match)],
        "protected": [[n, _secret(r, where)] for n, r in job.protected_parameters],
        "run_as_password": None if job.run_as_password is None
        else _secret(job.run_as_password, where),
        "when": job.when,
        "script_upload": job.script_upload,
        "rollback": job.rollback,
    }


def _ref(text: str) -> SecretRef:
    scheme, _, ref = text.partition(":")
    return SecretRef(scheme, ref)


def _unjob(d: dict[str, Any]) -> Job:
    codes, must, must_not = d["success"]
    return Job(
        machine=MachineRef(*d["m"]),
        step=d["step"],
        step_index=d["step_index"],
        wave=d["wave"],
        run_command_name=d["name"],
        output_blob=d["out"],
        error_blob=d["err"],
        request=d["request"],
        timeout_s=d["timeout_s"],
        success=Success(tuple(codes), tuple(must), tuple(must_not)),
        protected_parameters=tuple((n, _ref(r)) for n, r in d["protected"]),
        run_as_password=None if d["run_as_password"] is None else _ref(d["run_as_password"]),
        when=d["when"],
        script_upload=d["script_upload"],
        rollback=d["rollback"],
    )


def encode_plan(plan: Plan) -> tuple[bytes, str]:
    """The document and its sha256 (the workflow carries only these two facts)."""
    doc = {
        "schema": PLAN_DOC_SCHEMA,
        "run_id": plan.run_id,
        "playbook": dataclasses.asdict(plan.playbook),
        "rollout": dataclasses.asdict(plan.rollout),
        "waves": [{"index": w.index, "label": w.label, "machines": [_machine(m) for m in w.machines]}
                  for w in plan.waves],
        "steps": [[s.name, s.when] for s in plan.steps],
        "rollback_steps": [[s.name, s.when] for s in plan.rollback_steps],
        "jobs": [_job(j) for j in plan.jobs],
        "rollback_jobs": [_job(j) for j in plan.rollback_jobs],
        "warnings": list(plan.warnings),
    }
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return data, hashlib.sha256(data).hexdigest()


def decode_plan(data: bytes, sha256: str) -> Plan:
    if hashlib.sha256(data).hexdigest() != sha256:
        raise UsageError("the stored plan does not match its sha256: it changed after submission")
    doc = json.loads(data)
    if doc.get("schema") != PLAN_DOC_SCHEMA:
        raise UsageError(f"stored plan has schema {doc.get('schema')!r}, expected {PLAN_DOC_SCHEMA}")
    return Plan(
        run_id=doc["run_id"],
        playbook=PlaybookInfo(**doc["playbook"]),
        waves=tuple(Wave(w["index"], w["label"], tuple(MachineRef(*m) for m in w["machines"]))
                    for w in doc["waves"]),
        steps=tuple(StepInfo(n, w) for n, w in doc["steps"]),
        jobs=tuple(_unjob(j) for j in doc["jobs"]),
        rollback_steps=tuple(StepInfo(n, w) for n, w in doc["rollback_steps"]),
        rollback_jobs=tuple(_unjob(j) for j in doc["rollback_jobs"]),
        rollout=RolloutPolicy(**doc["rollout"]),
        warnings=tuple(doc["warnings"]),
    )
