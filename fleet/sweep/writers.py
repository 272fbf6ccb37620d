"""Write a sweep's matrix: ``compliance.json`` (matrix + drift), ``compliance.csv`` (one row per
machine, one column per check), ``compliance-junit.xml`` (one case per machine and check) and
``compliance.html`` (see ``fleet.sweep.html``)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from fleet.sweep.drift import Drift, drift_to_json
from fleet.sweep.html import render_html
from fleet.sweep.matrix import Matrix, matrix_to_json
from fleet.sweep.model import Status

__all__ = ["FILES", "render_csv", "render_junit", "sweep_json", "write_sweep_files"]

FILES = {"json": "compliance.json", "csv": "compliance.csv", "junit": "compliance-junit.xml",
         "html": "compliance.html"}
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sweep_json(matrix: Matrix, drift: Drift | None, exit_code: int | None = None) -> dict[str, Any]:
    data = matrix_to_json(matrix)
    data["drift"] = None if drift is None else drift_to_json(drift)
    if exit_code is not None:
        data["exit_code"] = exit_code
    return data


def _cell_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


def render_csv(matrix: Matrix) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["machine", "resource_id", "os_type", "score",
                     *(c.id for c in matrix.checks)])
    for row in matrix.machines:
        writer.writerow([_cell_text(row.name), row.key, row.os_type, _pct(row.score),
                         *(cell.status.value for cell in row.cells)])
    writer.writerow(["pass rate", "", "", "", *(_pct(matrix.pass_rate(c.id))
                                                 for c in matrix.checks)])
    return buffer.getvalue()


def _xml(text: str) -> str:
    return _XML_BAD.sub("?", text)


def render_junit(matrix: Matrix) -> str:
    """One suite per machine, one case per check. fail -> <failure>, error and unknown ->
    <error>, n/a -> <skipped>."""
    counts = matrix.counts()
    root = ET.Element("testsuites", name=_xml(f"fleet sweep {matrix.playbook}"),
                      tests=str(sum(counts.values())), failures=str(counts.get("fail", 0)),
                      errors=str(counts.get("error", 0) + counts.get("unknown", 0)))
    for row in matrix.machines:
        suite = ET.SubElement(root, "testsuite", name=_xml(row.name), tests=str(len(row.cells)),
                              failures=str(row.count(Status.FAIL)),
                              errors=str(row.count(Status.ERROR) + row.count(Status.UNKNOWN)),
                              skipped=str(row.count(Status.NA)))
        for info, cell in zip(matrix.checks, row.cells, strict=True):
            case = ET.SubElement(suite, "testcase", classname=_xml(f"sweep.{row.name}"),
                                 name=_xml(info.id))
            message = _xml(cell.detail)
            if cell.status == Status.FAIL:
                ET.SubElement(case, "failure", message=message, type="noncompliant").text = \
                    _xml(f"{info.title}\n{cell.detail}\nvalue: {cell.value}")
            elif cell.status in (Status.ERROR, Status.UNKNOWN):
                ET.SubElement(case, "error", message=message, type=cell.status.value)
            elif cell.status == Status.NA:
                ET.SubElement(case, "skipped", message=f"no snippet for {row.os_type}")
            if cell.value:
                ET.SubElement(case, "system-out").text = _xml(cell.value)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_sweep_files(run_dir: Path, matrix: Matrix, drift: Drift | None,
                      exit_code: int) -> dict[str, Path]:
    """Write the four files into ``run_dir``; returns their paths by format."""
    texts = {
        "json": json.dumps(sweep_json(matrix, drift, exit_code), indent=1) + "\n",
        "csv": render_csv(matrix),
        "junit": render_junit(matrix),
        "html": render_html(matrix, drift, exit_code),
    }
    paths = {}
    for kind, text in texts.items():
        path = run_dir / FILES[kind]
        _write(path, text)
        paths[kind] = path
    return paths
