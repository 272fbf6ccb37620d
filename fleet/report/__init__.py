"""Reports of a run: report.json (versioned schema), junit.xml, summary.md, report.html, and
the terminal recap; ``load_record`` reads a run back from its folder."""

from __future__ import annotations

from fleet.report.groups import OutputGroup, output_groups
from fleet.report.load import load_record
from fleet.report.recap import recap_text
from fleet.report.schema import SCHEMA_VERSION, record_from_dict, record_to_dict
from fleet.report.writer import ALL_FORMATS, FILE_NAMES, write_reports

__all__ = [
    "ALL_FORMATS",
    "FILE_NAMES",
    "SCHEMA_VERSION",
    "OutputGroup",
    "load_record",
    "output_groups",
    "recap_text",
    "record_from_dict",
    "record_to_dict",
    "write_reports",
]
