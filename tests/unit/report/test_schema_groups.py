from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.errors import RunFolderError, UsageError
from fleet.report import (
    SCHEMA_VERSION,
    load_record,
    output_groups,
    record_from_dict,
    record_to_dict,
    write_reports,
)
from fleet.types import JobState

from .records import HOSTILE_NAME, sample_record


def test_round_trip_is_exact() -> None:
    record = sample_record()
    doc = json.loads(json.dumps(record_to_dict(record)))
    assert record_from_dict(doc) == record


def test_document_fields() -> None:
    doc = record_to_dict(sample_record())
    assert doc["schema"] == "fleet.report" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["run"]["arm_requests"]["total"] == 47 and doc["run"]["throttled"] == 2
    summary = doc["summary"]
    assert summary["jobs"] == 7 and summary["machines"] == 7
    assert summary["by_state"]["succeeded"] == 4 and summary["by_state"]["failed"] == 1
    assert summary["by_state"]["timed_out"] == 0  # every state present
    assert summary["output_missing"] == 1
    row = next(r for r in doc["rows"] if r["name"] == "web-07")
    assert row["output_missing"] is True and any("output missing" in n for n in row["notes"])
    failed = next(r for r in doc["rows"] if r["state"] == "failed")
    assert failed["output"]["bytes"] > 0 and failed["output"]["sha256"]
    assert failed["id"].endswith(f"/machines/{HOSTILE_NAME}")


def test_no_storage_is_said_on_every_row_that_ran() -> None:
    doc = record_to_dict(sample_record(storage=False))
    assert doc["run"]["storage"] is False
    ran = [r for r in doc["rows"] if r["output"]["source"] == "instance_view"]
    assert len(ran) == 5
    assert all(any("instanceView" in n for n in r["notes"]) for r in ran)
    assert not any(r["output_missing"] for r in doc["rows"])  # not a blob: cannot tell


def test_identical_outputs_form_one_group_failures_first() -> None:
    groups = output_groups(sample_record().results)
    assert groups[0].has_failure and groups[0].machine_names == (HOSTILE_NAME,)
    big = next(g for g in groups if g.count == 3)
    assert big.excerpt == "patched 3 packages" and dict(big.states) == {"succeeded": 3}
    assert big.machine_names == ("web-01", "web-02", "web-03")
    assert [g.id for g in groups] == [f"g{i}" for i in range(1, len(groups) + 1)]
    # stderr groups only when non-empty; unreachable/skipped (no capture) are not grouped
    assert sum(g.stream == "error" for g in groups) == 1
    assert sum(g.count for g in groups if g.stream == "output") == 5


def test_500_machines_three_groups() -> None:
    from .records import job

    outs = ["ok\n", "ok\n", "ok\n", "already patched\n", "reboot required\n"]
    results = tuple(job(f"m{i:03}", JobState.SUCCEEDED, out=outs[i % 5]) for i in range(500))
    groups = output_groups(results)
    assert sorted(g.count for g in groups if g.stream == "output") == [100, 100, 300]


def test_write_then_load(tmp_path: Path) -> None:
    record = sample_record()
    written = write_reports(tmp_path, record)
    assert {p.name for p in written.values()} == {"report.json", "junit.xml", "summary.md", "report.html"}
    assert not list(tmp_path.glob(".*.tmp"))
    assert load_record(tmp_path) == record


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_reports(tmp_path, sample_record(), ["json", "pdf"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "not valid JSON"),
        ('{"schema": "other"}', "not a fleet report"),
        ('{"schema": "fleet.report", "schema_version": 99, "run": {}}', "upgrade fleet"),
        ('{"schema": "fleet.report", "schema_version": 1, "run": {"id": "x"}}', "malformed"),
        ('{"schema": "fleet.report", "schema_version": "1"}', "schema_version"),
    ],
)
def test_load_errors(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "report.json").write_text(content)
    with pytest.raises(RunFolderError, match=message):
        load_record(tmp_path)


def test_load_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="no such run folder"):
        load_record(tmp_path / "nope")


def test_malformed_row_is_named(tmp_path: Path) -> None:
    doc = record_to_dict(sample_record())
    doc["rows"][0]["state"] = "exploded"
    (tmp_path / "report.json").write_text(json.dumps(doc))
    with pytest.raises(RunFolderError, match="exploded"):
        load_record(tmp_path)


@pytest.mark.parametrize(
    ("where", "value"),
    [(("run", "status"), "exploded"), (("waves", 0, "state"), "melted"),
     (("rows", 0, "output", "source"), "carrier-pigeon")],
)
def test_a_word_outside_its_vocabulary_is_named(
    tmp_path: Path, where: tuple[str | int, ...], value: str
) -> None:
    """Run status, wave state and capture source are closed vocabularies (Literals): a
    report.json with another word is malformed, and the message says which word."""
    doc = record_to_dict(sample_record())
    assert doc["waves"], "the sample needs a wave"
    target = doc
    for key in where[:-1]:
        target = target[key]
    assert isinstance(target[where[-1]], str)  # the field exists where the test looks
    target[where[-1]] = value
    (tmp_path / "report.json").write_text(json.dumps(doc))
    with pytest.raises(RunFolderError, match=value):
        load_record(tmp_path)
