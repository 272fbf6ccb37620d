"""report.json: a documented, versioned schema, and ``RunRecord`` to and from it.

``SCHEMA_VERSION`` rises when a field changes meaning or disappears; adding a field does not
raise it (readers ignore what they do not know). ``summary``, ``groups`` and each row's
``notes``/``output_missing`` are derived: written for readers, ignored when loading.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from fleet import __version__
from fleet.report.facts import machine_outcomes, output_missing, row_notes, state_counts
from fleet.report.groups import OutputGroup, output_groups
from fleet.types import (
    CAPTURE_SOURCES,
    RUN_STATUSES,
    WAVE_STATES,
    JobResult,
    JobState,
    MachineRef,
    RunRecord,
    StreamCapture,
    WaveRecord,
    one_of,
)

__all__ = [
    "SCHEMA_NAME", "SCHEMA_VERSION", "iter_report_json", "record_from_dict", "record_to_dict",
]

SCHEMA_NAME = "fleet.report"
SCHEMA_VERSION = 1


def _capture_to_dict(capture: StreamCapture) -> dict[str, Any]:
    return {
        "source": capture.source,
        "path": capture.path,
        "bytes": capture.size_bytes,
        "sha256": capture.sha256,
        "truncated": capture.truncated,
        "excerpt": capture.excerpt,
        "group_sha256": capture.group_sha256,
    }


def _row_to_dict(result: JobResult) -> dict[str, Any]:
    m = result.machine
    return {
        "id": m.resource_id,
        "name": m.name,
        "subscription": m.subscription_id,
        "resource_group": m.resource_group,
        "location": m.location,
        "os_type": m.os_type,
        "step": result.step,
        "rollback": result.rollback,
        "wave": result.wave,
        "state": result.state.value,
        "exit_code": result.exit_code,
        "started": result.started_at,
        "ended": result.ended_at,
        "attempts": result.attempts,
        "polls": result.polls,
        "run_command_name": result.run_command_name,
        "output": _capture_to_dict(result.output),
        "error": _capture_to_dict(result.error),
        "reason": result.reason,
        "output_missing": output_missing(result),
        "notes": list(row_notes(result)),
    }


def _group_to_dict(group: OutputGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "step": group.step,
        "stream": group.stream,
        "sha256": group.sha256,
        "count": group.count,
        "bytes": group.size_bytes,
        "truncated": group.truncated,
        "excerpt": group.excerpt,
        "states": dict(group.states),
        "exit_codes": list(group.exit_codes),
        "machines": [{"id": m.resource_id, "name": m.name} for m in group.machines],
    }


def _head_to_dict(record: RunRecord) -> dict[str, Any]:
    """Everything of report.json except ``rows`` and ``groups`` (small whatever the fleet)."""
    outcomes = machine_outcomes(record)
    by_machine: dict[str, int] = {state.value: 0 for state in JobState}
    for state in outcomes.values():
        by_machine[state.value] += 1
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generator": f"fleet {__version__}",
        "run": {
            "id": record.run_id,
            "playbook": record.playbook_name,
            "playbook_path": record.playbook_path,
            "started": record.started_at,
            "finished": record.finished_at,
            "status": record.status,
            "exit_code": record.exit_code,
            "arm_requests": dict(record.arm_requests),
            "throttled": record.throttled,
            "storage": record.storage,
            "notes": list(record.notes),
        },
        "summary": {
            "jobs": len(record.results),
            "machines": len(outcomes),
            "by_state": state_counts(record.results),
            "machines_by_state": by_machine,
            "output_missing": sum(1 for r in record.results if output_missing(r)),
            "truncated": sum(1 for r in record.results if r.output.truncated or r.error.truncated),
        },
        "waves": [
            {
                "index": w.index,
                "machines": w.machines,
                "started": w.started_at,
                "ended": w.ended_at,
                "state": w.state,
            }
            for w in record.waves
        ],
    }


def record_to_dict(record: RunRecord) -> dict[str, Any]:
    """The whole report.json document for ``record`` (in memory: for tests and small runs;
    ``iter_report_json`` writes the same document a row at a time)."""
    return {
        **_head_to_dict(record),
        "rows": [_row_to_dict(r) for r in record.results],
        "groups": [_group_to_dict(g) for g in output_groups(record.results)],
    }


def iter_report_json(record: RunRecord) -> Iterator[str]:
    """report.json as chunks of compact JSON, one row or group per line: the document of
    ``record_to_dict`` without ever holding more than one row's dict or text."""
    head = json.dumps(_head_to_dict(record), ensure_ascii=False, separators=(",", ":"))
    yield head[:-1]  # the head object, still open
    yield ',\n"rows":['
    sep = "\n"
    for row in record.results:
        yield sep + _compact(_row_to_dict(row))
        sep = ",\n"
    yield '\n],\n"groups":['
    sep = "\n"
    for group in output_groups(record.results):
        yield sep
        yield from _iter_group_json(group)
        sep = ",\n"
    yield "\n]}\n"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_MEMBERS_PER_CHUNK = 256


def _iter_group_json(group: OutputGroup) -> Iterator[str]:
    """``_compact(_group_to_dict(group))``, the same bytes, its machine list (the last key, one
    entry per member: 10,000 for a fleet that printed the same thing) a few hundred at a time."""
    head = _compact(_group_to_dict(replace(group, machines=())))
    yield head[: -len("[]}")] + "["
    members = iter(group.machines)
    first = True
    while chunk := list(itertools.islice(members, _MEMBERS_PER_CHUNK)):
        text = ",".join(_compact({"id": m.resource_id, "name": m.name}) for m in chunk)
        yield text if first else "," + text
        first = False
    yield "]}"


_Word = TypeVar("_Word", bound=str)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string or null, got {type(value).__name__}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _word(vocabulary: tuple[_Word, ...], value: Any) -> _Word:
    """A value of a closed vocabulary (run status, wave state, capture source)."""
    word = one_of(vocabulary, _str(value))
    if word is None:
        raise ValueError(f"expected one of {', '.join(vocabulary)}, got {str(value)[:40]!r}")
    return word


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _capture_from_dict(doc: Mapping[str, Any]) -> StreamCapture:
    return StreamCapture(
        source=_word(CAPTURE_SOURCES, doc.get("source", "none")),
        path=_opt_str(doc.get("path")),
        size_bytes=_int(doc.get("bytes", 0)),
        sha256=_opt_str(doc.get("sha256")),
        truncated=_bool(doc.get("truncated", False)),
        excerpt=_str(doc.get("excerpt", "")),
        group_sha256=_opt_str(doc.get("group_sha256")),
    )


def _row_from_dict(doc: Mapping[str, Any]) -> JobResult:
    machine = MachineRef(
        subscription_id=_str(doc["subscription"]),
        resource_group=_str(doc["resource_group"]),
        name=_str(doc["name"]),
        location=_str(doc.get("location", "")),
        os_type=_str(doc.get("os_type", "")),
    )
    return JobResult(
        machine=machine,
        step=_str(doc["step"]),
        wave=_int(doc["wave"]),
        state=JobState(_str(doc["state"])),
        run_command_name=_str(doc.get("run_command_name", "")),
        exit_code=_opt_int(doc.get("exit_code")),
        started_at=_opt_str(doc.get("started")),
        ended_at=_opt_str(doc.get("ended")),
        attempts=_int(doc.get("attempts", 0)),
        polls=_int(doc.get("polls", 0)),
        output=_capture_from_dict(doc.get("output") or {}),
        error=_capture_from_dict(doc.get("error") or {}),
        reason=_opt_str(doc.get("reason")),
        rollback=_bool(doc.get("rollback", False)),
    )


def record_from_dict(doc: Mapping[str, Any]) -> RunRecord:
    """Rebuild a ``RunRecord`` from a report.json document of this schema version or older.
    Raises KeyError, TypeError or ValueError on a malformed document (the loader names it)."""
    run = doc["run"]
    requests = run.get("arm_requests") or {}
    if not isinstance(requests, Mapping):
        raise TypeError("run.arm_requests must be an object")
    return RunRecord(
        run_id=_str(run["id"]),
        playbook_name=_str(run.get("playbook", "")),
        playbook_path=_str(run.get("playbook_path", "")),
        started_at=_opt_str(run.get("started")),
        finished_at=_opt_str(run.get("finished")),
        status=_word(RUN_STATUSES, run["status"]),
        exit_code=_int(run["exit_code"]),
        arm_requests={_str(k): _int(v) for k, v in requests.items()},
        throttled=_int(run.get("throttled", 0)),
        storage=_bool(run.get("storage", True)),
        notes=tuple(_str(n) for n in run.get("notes", [])),
        waves=tuple(
            WaveRecord(
                index=_int(w["index"]),
                machines=_int(w["machines"]),
                started_at=_opt_str(w.get("started")),
                ended_at=_opt_str(w.get("ended")),
                state=_word(WAVE_STATES, w.get("state", "pending")),
            )
            for w in doc.get("waves", [])
        ),
        results=tuple(_row_from_dict(r) for r in doc.get("rows", [])),
    )
