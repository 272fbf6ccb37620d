"""Write a run's reports into its run folder, each file replaced atomically."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from fleet.errors import RunFolderError, UsageError
from fleet.report.html import iter_html
from fleet.report.json_report import iter_json
from fleet.report.junit import iter_junit
from fleet.report.markdown import iter_markdown
from fleet.types import RunRecord

__all__ = ["ALL_FORMATS", "FILE_NAMES", "write_reports"]

ALL_FORMATS: tuple[str, ...] = ("json", "junit", "md", "html")
FILE_NAMES: dict[str, str] = {
    "json": "report.json",
    "junit": "junit.xml",
    "md": "summary.md",
    "html": "report.html",
}
# Each format is written as a stream of chunks (a row at a time), never built whole in memory.
_RENDERERS: dict[str, Callable[[RunRecord], Iterator[str]]] = {
    "json": iter_json,
    "junit": iter_junit,
    "md": iter_markdown,
    "html": iter_html,
}
_BUFFER_BYTES = 256 * 1024


def write_reports(
    run_dir: Path, record: RunRecord, formats: Iterable[str] = ALL_FORMATS
) -> dict[str, Path]:
    """Render ``formats`` of ``record`` into ``run_dir``; returns format -> file written.
    A reader never sees a half-written file (write to a temporary name, then rename); each
    file is streamed, so a report of 10,000 rows never exists whole in memory."""
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in _RENDERERS]
    if unknown:
        raise UsageError(f"unknown report format {unknown[0]!r}: use one of {', '.join(ALL_FORMATS)}")
    written: dict[str, Path] = {}
    for fmt in wanted:
        path = run_dir / FILE_NAMES[fmt]
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)  # owner-only, any umask
            with os.fdopen(fd, "w", encoding="utf-8", buffering=_BUFFER_BYTES) as handle:
                for chunk in _RENDERERS[fmt](record):
                    handle.write(chunk)
            os.replace(tmp, path)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            raise RunFolderError(f"{path}: cannot write: {error.strerror or error}") from error
        except BaseException:  # a renderer failed half-way: no half-written file left behind
            tmp.unlink(missing_ok=True)
            raise
        written[fmt] = path
    return written
