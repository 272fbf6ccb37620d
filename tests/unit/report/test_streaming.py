"""The reports are written as streams: the same documents as before, never whole in memory."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.report import load_record, record_to_dict, write_reports
from fleet.report.groups import output_groups
from fleet.report.html import render_html
from fleet.report.page import island_json
from fleet.report.schema import _iter_group_json, iter_report_json
from fleet.types import JobResult, JobState, RunRecord, StreamCapture
from tests.memory import traced_peak
from tests.unit.report.records import job, sample_record


def test_streamed_report_json_is_the_schema_document(tmp_path: Path) -> None:
    record = sample_record()
    path = write_reports(tmp_path, record, ["json"])["json"]
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(json.dumps(record_to_dict(record)))
    assert text.count("\n") > len(record.results)  # compact, one row per line
    assert load_record(tmp_path) == record
    empty = replace(record, results=(), waves=())
    assert json.loads("".join(write_reports(tmp_path, empty, ["json"])["json"].read_text())) == (
        json.loads(json.dumps(record_to_dict(empty))))


def test_island_json_cannot_end_its_script_element() -> None:
    hostile = "</script><img src=x onerror=alert(1)><!-- & 'x'"
    text = str(island_json({"name": hostile}))
    assert "<" not in text and ">" not in text and "&" not in text and "'" not in text
    assert json.loads(text) == {"name": hostile}
    page = render_html(replace(sample_record(), results=(job(hostile, JobState.FAILED),)))
    island = page[page.index('id="fleet-data">') : page.index("</script>")]
    assert hostile not in page and "\\u003c/script\\u003e" in island


def _many(rows: int) -> RunRecord:
    body = "patched 3 packages\n" + "a line of output\n" * 20
    results = []
    for i in range(rows):
        text = f"host arc-{i:05d}: {body}"
        capture = StreamCapture(
            source="blob", path=f"output/{i}.out", size_bytes=len(text), truncated=False,
            sha256=hashlib.sha256(text.encode()).hexdigest(), excerpt=text,
            group_sha256=hashlib.sha256(f"host <machine>: {body}".encode()).hexdigest(),
        )
        base: JobResult = job(f"arc-{i:05d}", JobState.FAILED if i % 50 == 0 else JobState.SUCCEEDED)
        results.append(replace(base, output=capture))
    return replace(sample_record(), results=tuple(results))


def _write_many(folder: str) -> Callable[[], int]:
    record = _many(2_000)

    def write() -> int:
        written = write_reports(Path(folder), record)
        return sum(path.stat().st_size for path in written.values())

    return write


def test_writing_the_reports_does_not_hold_them_in_memory(tmp_path: Path) -> None:
    _, peak, total = traced_peak(_write_many, str(tmp_path))
    # The four files hold ~6 MB; built whole (dicts, json.dumps, ElementTree) they took ~20 MiB.
    assert total > 4_000_000
    assert peak < total / 2, f"peak {peak:,} bytes while writing {total:,} bytes of reports"


def test_a_report_that_fails_half_way_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    record = sample_record()
    path = write_reports(tmp_path, record, ["json"])["json"]
    before = path.read_text(encoding="utf-8")
    broken = replace(record, results=(*record.results, None))  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        write_reports(tmp_path, broken, ["json"])
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def _one_line_per_item(record: RunRecord) -> str:
    """report.json as it is specified: the head, then one compact row or group per line."""
    doc = record_to_dict(record)
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    head = json.dumps({k: v for k, v in doc.items() if k not in ("rows", "groups")}, **compact)
    parts = [head[:-1]]
    for key in ("rows", "groups"):
        parts.append(f',\n"{key}":[')
        parts.append(",".join("\n" + json.dumps(item, **compact) for item in doc[key]))
        parts.append("\n]")
    return "".join(parts) + "}\n"


@pytest.mark.parametrize("machines", [0, 1, 255, 256, 257, 600])
def test_a_large_group_streams_to_the_same_bytes(machines: int) -> None:
    results = tuple(job(f"web-{i:04d}", JobState.SUCCEEDED, out=f"ok on web-{i:04d}\n")
                    for i in range(machines))
    record = replace(sample_record(), results=results)
    assert "".join(iter_report_json(record)) == _one_line_per_item(record)


def _stream_a_big_group() -> Callable[[], int]:
    results = tuple(job(f"web-{i:05d}", JobState.SUCCEEDED, out="ok\n") for i in range(10_000))
    record = replace(sample_record(), results=results)
    groups = [g for g in output_groups(record.results) if g.count == 10_000]
    assert groups, "the outputs were expected to form one group"
    # A group holds the run's own MachineRefs, not a resource id string made per member.
    assert all(a is b.machine for a, b in zip(groups[0].machines, results, strict=True))

    def stream() -> int:
        return sum(len(chunk) for chunk in _iter_group_json(groups[0]))

    return stream


def test_a_group_of_10000_machines_is_never_one_list_in_memory() -> None:
    """Its machines are written a few hundred at a time: 7.1 MiB traced peak for the whole
    report.json of a 10,000-machine run whose outputs differ only by the host name, 2.1 MiB
    streamed (measured on a benchmark run's journal); this group alone, 7.4 MiB as one line."""
    _, peak, size = traced_peak(_stream_a_big_group)
    assert size > 10_000 * len("web-00000")
    assert peak < 512 * 1024, f"{peak / 2**20:.2f} MiB"
