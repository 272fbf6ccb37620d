"""report.json: the machine-readable report (schema in ``fleet.report.schema``)."""

from __future__ import annotations

import json

from fleet.report.schema import record_to_dict
from fleet.types import RunRecord

__all__ = ["render_json"]


def render_json(record: RunRecord) -> str:
    return json.dumps(record_to_dict(record), indent=2, ensure_ascii=False) + "\n"
