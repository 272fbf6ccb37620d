"""Read a run back from its run folder (report.json for now; the journal may become a source)."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.errors import RunFolderError
from fleet.report.schema import SCHEMA_NAME, SCHEMA_VERSION, record_from_dict
from fleet.types import RunRecord

__all__ = ["REPORT_JSON", "load_record"]

REPORT_JSON = "report.json"


def load_record(run_dir: Path) -> RunRecord:
    """The ``RunRecord`` in ``run_dir/report.json``. A missing or unreadable folder or file, a
    malformed document, or one written by a newer fleet (higher schema version) raises
    ``RunFolderError``."""
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder")
    path = run_dir / REPORT_JSON
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise RunFolderError(f"{path}: not found (is {run_dir} a fleet run folder?)") from error
    except (OSError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: cannot read: {error}") from error
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise RunFolderError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from error
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_NAME:
        raise RunFolderError(f"{path}: not a fleet report (no \"schema\": \"{SCHEMA_NAME}\")")
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RunFolderError(f"{path}: schema_version must be a positive integer")
    if version > SCHEMA_VERSION:
        raise RunFolderError(
            f"{path}: written with report schema {version}, this fleet reads up to "
            f"{SCHEMA_VERSION}: upgrade fleet"
        )
    try:
        return record_from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        what = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise RunFolderError(f"{path}: malformed report: {what}") from error
