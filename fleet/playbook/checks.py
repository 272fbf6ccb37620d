"""Validation helpers shared by the playbook readers: one-line errors and did-you-mean."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fleet.errors import PlaybookError
from fleet.playbook.model import Tmpl
from fleet.yamlsrc import YMap, describe, line_of, shown_key

__all__ = ["Ctx"]


class Ctx:
    """The playbook being read: its path, and the warnings gathered so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        self.warnings: list[str] = []

    def error(self, message: str, line: int | None, field: str,
              hint: str | None = None) -> PlaybookError:
        return PlaybookError(message, file=self.file, line=line, field=field, hint=hint)

    def check_keys(self, mapping: YMap, allowed: Iterable[str], where: str) -> None:
        allowed = tuple(allowed)
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                shown = shown_key(key)
                field = f"{where}.{shown.strip(chr(39))}" if where else shown.strip("'")
                raise self.error(f"unknown key {shown}", mapping.line_of(key), field,
                                 hint=f"did you mean {close[0]!r}?" if close
                                 else f"known keys: {', '.join(allowed)}")

    def mapping(self, container: Any, key: Any, where: str) -> YMap | None:
        value = container.get(key)
        if value is None:
            return None
        if not isinstance(value, YMap):
            raise self.error(f"must be a mapping, got {describe(value)}", line_of(container, key),
                             where)
        return value

    def string(self, container: Any, key: Any, where: str, *, required: bool = False,
               scalar: bool = False) -> Tmpl | None:
        value = container.get(key)
        line = line_of(container, key)
        if value is None:
            if required:
                raise self.error("is required", line_of(container), where)
            return None
        ok = isinstance(value, str) or (scalar and isinstance(value, (int, float))
                                        and not isinstance(value, bool))
        if not ok:
            raise self.error(f"must be a string, got {describe(value)}", line, where)
        if isinstance(value, str) and not value.strip():
            raise self.error("must not be empty", line, where)
        return Tmpl(value, line, where)

    def boolean(self, container: Any, key: str, where: str, default: bool) -> bool:
        value = container.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"must be true or false, got {describe(value)}",
                             line_of(container, key), where)
        return value





