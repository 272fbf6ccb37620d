"""``group_vars/`` and ``host_vars/`` beside the inventory, found as ansible-core finds them
(``DataLoader.find_vars_files``): for entity NAME the first of ``NAME`` (a folder or a file
without extension), ``NAME.yml``, ``NAME.yaml``, ``NAME.json`` that exists is used, and only
that one. A folder is read recursively in name order, skipping hidden names (``.x``) and backups
(``x~``); inside it, files with no extension or ``.yml``/``.yaml``/``.json`` are read, and so
are subfolders without an extension. Later files override earlier ones, key by key.

Stricter than Ansible on purpose: a name there that is not a folder is read even when it is not
a regular file (a broken link, a FIFO, a device), so ``fleet.safeio`` refuses it with an error
instead of the variables being dropped silently.

Bounded: at most :data:`MAX_FILES` files per entity, :data:`MAX_DEPTH` folders deep (a symlink
loop stops there), each file at most the YAML reader's size cap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fleet.errors import InventoryError
from fleet.inventory.drafts import RESERVED_VARS, VAR_NAME, plain
from fleet.yamlsrc import describe, line_of, load_yaml, shown_key

__all__ = ["EXTENSIONS", "MAX_DEPTH", "MAX_FILES", "VarsFiles", "find_vars_files"]

EXTENSIONS = (".yml", ".yaml", ".json")
MAX_FILES = 1_000
MAX_DEPTH = 8


def find_vars_files(folder: Path, name: str) -> list[Path]:
    """The files Ansible reads for ``name`` in ``folder`` (``group_vars`` or ``host_vars``)."""
    if not folder.is_dir() or name.startswith(os.sep):
        return []
    for ext in ("", *EXTENSIONS):
        candidate = folder / f"{name}{ext}"
        if os.path.lexists(candidate):
            if candidate.is_dir():
                found: list[Path] = []
                _walk(candidate, found, 0)
                return found
            return [candidate]
    return []


def _walk(folder: Path, found: list[Path], depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise InventoryError(f"folder nested more than {MAX_DEPTH} deep (a symlink loop?)",
                             file=str(folder))
    for entry in sorted(os.listdir(folder)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        path = folder / entry
        ext = os.path.splitext(entry)[1]
        if path.is_dir() and not ext:
            _walk(path, found, depth + 1)
        elif not path.is_dir() and (not ext or ext in EXTENSIONS):
            found.append(path)
            if len(found) > MAX_FILES:
                raise InventoryError(f"more than {MAX_FILES} variable files", file=str(folder))


def read_vars_file(path: Path) -> dict[str, Any]:
    """A mapping of variables; an empty file is no variables (Ansible ignores it)."""
    data = load_yaml(path, error=InventoryError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(f"must be a mapping of variables, got {describe(data)}",
                             file=str(path), line=line_of(data))
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not VAR_NAME.match(key) or key in RESERVED_VARS:
            raise InventoryError(f"bad variable name {shown_key(key)} (identifier, not one of "
                                 f"{', '.join(sorted(RESERVED_VARS))})",
                                 file=str(path), line=line_of(data, key))
        out[key] = plain(value)
    return out


class VarsFiles:
    """The ``group_vars``/``host_vars`` of one inventory folder (``base`` None: there are none),
    each entity's files read once."""

    def __init__(self, base: Path | None) -> None:
        self.base = base
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The merged variables of ``group_vars/NAME`` (kind ``group_vars``) or ``host_vars``."""
        if self.base is None:
            return {}
        key = (kind, name)
        cached = self._cache.get(key)
        if cached is None:
            cached = {}
            for path in find_vars_files(self.base / kind, name):
                cached.update(read_vars_file(path))
            self._cache[key] = cached
        return cached
