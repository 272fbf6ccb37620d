"""Read a run back from its run folder (report.json for now; the journal may become a source)."""

from __future__ import annotations

from pathlib import Path

from fleet.errors import InputError, RunFolderError
from fleet.report.schema import SCHEMA_NAME, SCHEMA_VERSION, record_from_dict
from fleet.safeio import load_json, read_text
from fleet.types import RunRecord

__all__ = ["REPORT_JSON", "load_record"]

REPORT_JSON = "report.json"
MAX_REPORT_BYTES = 512 * 1024 * 1024


def load_record(run_dir: Path) -> RunRecord:
    """The ``RunRecord`` in ``run_dir/report.json``. A missing or unreadable folder or file, a
    malformed document, or one written by a newer fleet (higher schema version) raises
    ``RunFolderError``."""
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder")
    path = run_dir / REPORT_JSON
    if not path.exists() and not path.is_symlink():
        raise RunFolderError(f"{path}: not found (is {run_dir} a fleet run folder?)")
    try:
        doc = load_json(read_text(path, max_bytes=MAX_REPORT_BYTES), file=str(path))
    except InputError as error:
        raise RunFolderError(error.one_line()) from error
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
