"""checks: validation, the history lock, and the matrix files."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fleet.errors import PlaybookError
from fleet.playbook import load_playbook
from fleet.sweep.drift import diff_matrices
from fleet.sweep.history import HistoryLockedError, HistoryStore
from fleet.sweep.html import render_html
from fleet.sweep.matrix import CheckInfo, MachineRow, Matrix, matrix_from_json, matrix_to_json
from fleet.sweep.model import CheckResult, Status
from fleet.sweep.writers import render_csv, render_junit

HEAD = "name: t\nhosts: all\n"


def load(tmp_path: Path, body: str) -> object:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + body)
    return load_playbook(path)


def test_a_sweep_playbook_loads_with_defaults_and_a_summed_timeout(tmp_path: Path) -> None:
    book = load(tmp_path, "check_timeout: 10s\nchecks:\n"
                "  - {id: a, linux: 'true'}\n"
                "  - {id: b, windows: 'exit 0', timeout: 1m, severity: HIGH,"
                " expect: {compare: {op: '>=', value: '1.2', type: version}}}\n")
    assert book.steps[0].name == "sweep"  # type: ignore[attr-defined]
    assert book.steps[0].timeout_s == 10 + 60 + 60  # type: ignore[attr-defined]
    a, b = book.checks  # type: ignore[attr-defined]
    assert a.title == "a" and a.timeout_s == 10 and a.snippet("windows") is None
    assert b.severity == "high" and b.expect.compare.kind == "version"


@pytest.mark.parametrize(("body", "message"), [
    ("checks:\n  - {id: a, linux: x}\n  - {id: a, linux: y}\n", "used twice"),
    ("checks:\n  - {id: 'a b', linux: x}\n", "must be 1-64"),
    ("checks:\n  - {id: a}\n", "needs a snippet"),
    ("checks:\n  - {id: a, linx: x}\n", "did you mean 'linux'"),
    ("checks:\n  - {id: a, linux: x, expect: {output_matches: ['(']}}\n", "bad regular expr"),
    ("checks:\n  - {id: a, linux: x, expect: {compare: {op: '<', value: a}}}\n", "== or !="),
    ("checks:\n  - {id: a, linux: x, expect: {compare: {op: '~', value: a}}}\n", "op must be"),
    ("checks:\n  - {id: a, linux: x, severity: urgent}\n", "severity must be"),
    ("script: echo\nchecks:\n  - {id: a, linux: x}\n", "has no 'script'"),
    ("check_timeout: 5s\nscript: echo\n", "only applies to a sweep"),
    ("checks: []\n", "non-empty list"),
])
def test_bad_checks_name_file_line_and_field(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(PlaybookError) as info:
        load(tmp_path, body)
    assert message in str(info.value) and str(tmp_path / "p.yaml") in str(info.value)


def test_the_history_lock_refuses_a_second_sweep_and_is_released(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h")
    with store.locked("run-a"):
        with pytest.raises(HistoryLockedError) as info, HistoryStore(tmp_path / "h").locked("b"):
            pass
        assert info.value.exit_code == 8
        assert "another sweep is still running" in str(info.value) and "run-a" in str(info.value)
    with store.locked("run-c"):  # released: the next sweep may start
        pass


def matrix(run_id: str, cells: dict[str, list[Status]], name_prefix: str = "") -> Matrix:
    checks = (CheckInfo("ssh", "SSH"), CheckInfo("tls", "TLS", "high", "why"))
    rows = tuple(MachineRow(f"/k/{name}", name_prefix + name, "linux",
                            tuple(CheckResult(c.id, s, "" if s == Status.PASS else "because", "v")
                                  for c, s in zip(checks, statuses, strict=True)))
                 for name, statuses in cells.items())
    return Matrix(run_id, "book", "2026-01-01T00:00:00Z", f"2026-01-0{run_id[-1]}T00:00:00Z",
                  checks, rows)


def test_history_keeps_sweeps_in_order_and_reads_them_back(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h")
    assert store.latest() is None
    first = matrix("run-1", {"a": [Status.PASS, Status.PASS]})
    second = matrix("run-2", {"a": [Status.PASS, Status.FAIL]})
    store.save(second)
    store.save(first)
    latest = store.latest()
    assert latest == second  # ordered by finish time, not by save order
    assert store.find("run-1") is not None and store.find("nope") is None
    assert matrix_from_json(matrix_to_json(first), where="x") == first


def test_drift_names_every_kind_of_change() -> None:
    before = matrix("run-1", {"a": [Status.PASS, Status.PASS], "b": [Status.FAIL, Status.PASS],
                              "gone": [Status.PASS, Status.PASS]})
    after = matrix("run-2", {"a": [Status.PASS, Status.FAIL], "b": [Status.PASS, Status.ERROR],
                             "new": [Status.FAIL, Status.FAIL]})
    drift = diff_matrices(before, after)
    assert [(c.machine, c.check_id) for c in drift.newly_failing] == [("a", "tls")]
    assert [(c.machine, c.check_id) for c in drift.newly_passing] == [("b", "ssh")]
    assert [(c.before, c.after) for c in drift.other] == [(Status.PASS, Status.ERROR)]
    assert drift.machines_appeared == ("new",) and drift.machines_vanished == ("gone",)
    assert diff_matrices(after, after).empty


def test_csv_junit_and_html_hold_untrusted_names_safely() -> None:
    evil = matrix("run-1", {"=cmd|'/c calc'!A1": [Status.PASS, Status.FAIL],
                            "<script>alert(1)</script>": [Status.UNKNOWN, Status.NA]})
    rows = list(csv.reader(io.StringIO(render_csv(evil))))
    assert rows[0] == ["machine", "resource_id", "os_type", "score", "ssh", "tls"]
    assert rows[1][0].startswith("'=") or rows[2][0].startswith("'=")
    assert rows[-1][:1] == ["pass rate"] and rows[-1][4:] == ["50%", "0%"]
    root = ET.fromstring(render_junit(evil))
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "1"
    assert len(root.findall("testsuite/testcase")) == 4
    assert len(root.findall("testsuite/testcase/skipped")) == 1
    html = render_html(evil, diff_matrices(evil, evil))
    assert "<script>alert" not in html and "\\u003cscript\\u003ealert(1)" in html
    data = json.loads(html.split('<script type="application/json" id="fleet-data">')[1]
                      .split("</script>")[0])
    # Lowest score first (the unassessed machine scores 0%), lowest pass rate column first.
    assert [row[0] for row in data["rows"]] == ["<script>alert(1)</script>", "=cmd|'/c calc'!A1"]
    assert [c["id"] for c in data["checks"]] == ["tls", "ssh"]
    assert html.index("<b>tls</b>") < html.index("<b>ssh</b>")  # the checks table, worst first
    json.loads(json.dumps(matrix_to_json(evil)))
