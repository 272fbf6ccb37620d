"""The report-writing step's own memory: tracemalloc's peak while ``write_reports`` writes a
synthetic 10,000-row run (above the record itself), per format and for all four.

    .venv/bin/python -m bench.report_memory              # every output different (worst case)
    .venv/bin/python -m bench.report_memory --grouped    # outputs equal but for the host name

Deterministic (no simulator, no clock): the same figures on a quiet or a busy machine.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import tracemalloc
from pathlib import Path

from fleet.report import write_reports
from fleet.types import JobResult, JobState, MachineRef, RunRecord, StreamCapture

BODY = "patched {n} packages\n" + "a line of output\n" * 20


def _capture(text: str, generic: str | None) -> StreamCapture:
    return StreamCapture(
        source="blob", path="output/x.out", size_bytes=len(text.encode()), truncated=False,
        sha256=hashlib.sha256(text.encode()).hexdigest(), excerpt=text,
        group_sha256=hashlib.sha256(generic.encode()).hexdigest() if generic else None,
    )


def synthetic_record(rows: int, *, grouped: bool) -> RunRecord:
    results = []
    for i in range(rows):
        failed = i % 50 == 0
        body = BODY.format(n=i % 7)
        name = f"arc-lnx-{i:05d}"
        results.append(JobResult(
            machine=MachineRef(f"00000000-0000-0000-0000-{i % 4:012d}", f"rg-{i % 40:02d}", name,
                               "westeurope", "linux"),
            step="apply", wave=0, state=JobState.FAILED if failed else JobState.SUCCEEDED,
            run_command_name=f"fleet-run-{i}", exit_code=3 if failed else 0,
            started_at="2026-11-29T10:00:00Z", ended_at="2026-11-29T10:00:21Z", attempts=1, polls=2,
            output=_capture(f"host {name}: {body}", f"host <machine>: {body}" if grouped else None),
            error=_capture("", None), reason=None,
        ))
    return RunRecord(
        run_id="bench", playbook_name="patch", playbook_path="patch.yaml",
        started_at="2026-11-29T10:00:00Z", finished_at="2026-11-29T10:10:00Z", status="succeeded",
        exit_code=0, arm_requests={"total": 0}, throttled=0, storage=True, notes=(), waves=(),
        results=tuple(results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--grouped", action="store_true")
    args = parser.parse_args()
    record = synthetic_record(args.rows, grouped=args.grouped)
    kind = "outputs equal but for the host name" if args.grouped else "every output different"
    print(f"{args.rows:,} rows, {kind}")
    with tempfile.TemporaryDirectory() as folder:
        for formats in (["json"], ["junit"], ["md"], ["html"], ["json", "junit", "md", "html"]):
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            written = write_reports(Path(folder), record, formats)
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
            size = sum(path.stat().st_size for path in written.values())
            print(f"  {'+'.join(formats):20} peak {peak / 2**20:6.1f} MiB   files {size / 1e6:5.1f} MB")


if __name__ == "__main__":
    main()
