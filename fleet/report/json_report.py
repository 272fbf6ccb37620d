"""report.json: the machine-readable report (schema in ``fleet.report.schema``), written as a
stream of compact chunks, one row per line."""

from __future__ import annotations

from collections.abc import Iterator

from fleet.report.schema import iter_report_json
from fleet.types import RunRecord

__all__ = ["iter_json", "render_json"]


def iter_json(record: RunRecord) -> Iterator[str]:
    return iter_report_json(record)


def render_json(record: RunRecord) -> str:
    return "".join(iter_json(record))
