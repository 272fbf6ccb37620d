"""Load YAML (or JSON, which is YAML) and remember the line of every key, so a bad field in a
profile or inventory can be reported as ``FILE:LINE: FIELD: message``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Located", "load_located"]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """Parsed data plus the 1-based line where each key path starts."""

    data: Any
    source: str
    lines: dict[KeyPath, int]

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def load_located(path: Path) -> Located:
    """Parse ``path``; raises ``OSError`` or ``yaml.YAMLError`` (callers translate them)."""
    text = path.read_text(encoding="utf-8")
    lines: dict[KeyPath, int] = {}
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        _walk(node, (), lines)
    data = yaml.safe_load(text)
    return Located(data=data, source=str(path), lines=lines)
