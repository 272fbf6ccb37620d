"""A small but varied RunRecord for report tests (hostile names and outputs included)."""

from __future__ import annotations

import hashlib

from fleet.types import JobResult, JobState, MachineRef, RunRecord, StreamCapture, WaveRecord

HOSTILE_OUTPUT = "installing\n</pre><script>alert('out')</script>\nexit | 1 ``` done\x00"
HOSTILE_NAME = "web-<img src=x onerror=alert(1)>"


def cap(text: str, *, source: str = "blob", truncated: bool = False) -> StreamCapture:
    data = text.encode()
    return StreamCapture(
        source=source,
        path=f"output/{hashlib.sha1(data).hexdigest()[:6]}.out",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=truncated,
        excerpt=text.strip("\n"),
    )


def machine(name: str, rg: str = "rg-web") -> MachineRef:
    return MachineRef("00000000-0000-0000-0000-000000000001", rg, name, "westeurope", "linux")


def job(
    name: str,
    state: JobState,
    *,
    out: str = "",
    err: str = "",
    exit_code: int | None = 0,
    wave: int = 1,
    rg: str = "rg-web",
    reason: str | None = None,
    source: str = "blob",
) -> JobResult:
    ran = state not in (JobState.SKIPPED, JobState.UNREACHABLE)
    return JobResult(
        machine=machine(name, rg),
        step="patch",
        wave=wave,
        state=state,
        run_command_name=f"fleet-r1-{name[:8]}",
        exit_code=exit_code if ran else None,
        started_at="2026-11-25T10:00:05Z" if ran else None,
        ended_at="2026-11-25T10:01:15Z" if ran else None,
        attempts=1 if ran else 0,
        polls=4 if ran else 0,
        output=cap(out, source=source) if ran else StreamCapture(),
        error=cap(err, source=source) if ran else StreamCapture(),
        reason=reason,
    )


def sample_record(*, storage: bool = True) -> RunRecord:
    src = "blob" if storage else "instance_view"
    results = (
        job("web-01", JobState.SUCCEEDED, out="patched 3 packages\n", wave=0, source=src),
        job("web-02", JobState.SUCCEEDED, out="patched 3 packages\n", source=src),
        job("web-03", JobState.SUCCEEDED, out="patched 3 packages\n", source=src),
        job(HOSTILE_NAME, JobState.FAILED, out=HOSTILE_OUTPUT, err="E: locked\n", exit_code=1,
            reason="exit code 1 not in [0]", source=src),
        job("web-05", JobState.UNREACHABLE, reason="machine status Disconnected"),
        job("web-06", JobState.SKIPPED, reason="halted: failure budget exhausted", wave=2),
        job("web-07", JobState.SUCCEEDED, out="", source=src),
    )
    return RunRecord(
        run_id="20261125-100000-patch",
        playbook_name="patch <web>",
        playbook_path="playbooks/patch.yaml",
        started_at="2026-11-25T10:00:00Z",
        finished_at="2026-11-25T10:05:00Z",
        status="halted",
        exit_code=3,
        arm_requests={"read": 40, "write": 7, "delete": 0, "total": 47},
        throttled=2,
        storage=storage,
        waves=(
            WaveRecord(0, 1, "2026-11-25T10:00:00Z", "2026-11-25T10:01:20Z", "done"),
            WaveRecord(1, 5, "2026-11-25T10:01:30Z", "2026-11-25T10:04:00Z", "halted"),
            WaveRecord(2, 1, None, None, "skipped"),
        ),
        results=results,
        notes=("halted after wave 1: 1 failure > max_failures 0",),
    )
