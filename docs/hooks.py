"""mkdocs hooks that let one set of Markdown files read correctly on GitHub and on the site.

- README.md (at the repository root) is the site's home page, ``index.md``.
- Links are written for GitHub: relative to the file's real place in the repository (README.md
  links ``docs/readme/run.md``; a page links ``../../bench/RESULTS.md``). On the site, a link to
  a page becomes a link to that page, and a repository file outside the manual is published
  under ``repo/`` (Markdown as a page, anything else as it is) and linked there.
- A relative link to a file that does not exist is a warning, so ``mkdocs build --strict`` fails.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.fleet")

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = "repo"
# [text](target "title") and ![alt](target); reference definitions: [name]: target
INLINE = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
REFERENCE = re.compile(r"^( {0,3}\[[^\]]+\]:\s*)(\S+)(.*)$", re.MULTILINE)
FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)

# src_uri of each page -> the file it really is in the repository
_REAL: dict[str, Path] = {}


def _is_relative(target: str) -> bool:
    return not (target.startswith(("#", "/", "mailto:")) or re.match(r"^[a-z][a-z0-9+.-]*:", target))


def _prose_spans(markdown: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_prose) pieces: links inside fenced code blocks are not links."""
    spans, pos, prose = [], 0, True
    for match in FENCE.finditer(markdown):
        spans.append((pos, match.start(), prose))
        pos, prose = match.start(), not prose
    spans.append((pos, len(markdown), prose))
    return spans


def _targets(markdown: str) -> list[str]:
    found: list[str] = []
    for start, end, prose in _prose_spans(markdown):
        if prose:
            text = markdown[start:end]
            found += [m.group(2) for m in INLINE.finditer(text)]
            found += [m.group(2) for m in REFERENCE.finditer(text)]
    return found


def _resolve(real: Path, target: str) -> Path:
    path = target.split("#", 1)[0]
    return (real.parent / path).resolve() if path else real


def _site_uri(path: Path, docs_dir: Path) -> str | None:
    """Where a repository file lives on the site, or None if it is not in the repository."""
    if path.is_relative_to(docs_dir):
        return path.relative_to(docs_dir).as_posix()
    if path == ROOT / "README.md":
        return "index.md"
    if path.is_relative_to(ROOT):
        return f"{PUBLISHED}/{path.relative_to(ROOT).as_posix()}"
    return None


def on_files(files: Files, config: Any) -> Files:
    docs_dir = Path(config["docs_dir"]).resolve()
    _REAL.clear()
    for file in files.documentation_pages():
        _REAL[file.src_uri] = Path(file.abs_src_path or "").resolve()
    files.append(File.generated(config, "index.md", abs_src_path=str(ROOT / "README.md")))
    _REAL["index.md"] = ROOT / "README.md"
    # Publish every repository file outside the manual that a page links to (and so on).
    todo = list(_REAL.items())
    while todo:
        _, real = todo.pop()
        for target in _targets(real.read_text(encoding="utf-8")):
            if not _is_relative(target):
                continue
            path = _resolve(real, target)
            uri = _site_uri(path, docs_dir)
            if uri is None or not path.is_file() or uri in _REAL or path.is_relative_to(docs_dir):
                continue
            files.append(File.generated(config, uri, abs_src_path=str(path)))
            _REAL[uri] = path
            if path.suffix == ".md":
                todo.append((uri, path))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    src_uri = page.file.src_uri
    real = _REAL.get(src_uri)
    if real is None:
        return markdown
    docs_dir = Path(config["docs_dir"]).resolve()
    here = posixpath.dirname(src_uri)

    def rewrite(target: str) -> str:
        if not _is_relative(target):
            return target
        path = _resolve(real, target)
        anchor = target[len(target.split("#", 1)[0]):]
        if not path.exists():
            log.warning("%s: link to %s, which does not exist (%s)", _shown(real), target, path)
            return target
        uri = _site_uri(path, docs_dir)
        if uri is None or path.is_dir():
            log.warning("%s: link to %s: link a file inside the repository", _shown(real), target)
            return target
        return posixpath.relpath(uri, here or ".") + anchor

    pieces = []
    for start, end, prose in _prose_spans(markdown):
        text = markdown[start:end]
        if prose:
            text = INLINE.sub(lambda m: m.group(1) + rewrite(m.group(2)) + m.group(3), text)
            text = REFERENCE.sub(lambda m: m.group(1) + rewrite(m.group(2)) + m.group(3), text)
        pieces.append(text)
    return "".join(pieces)


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
