"""Load YAML (or JSON, which is YAML) and remember the line of every key, so a bad field in a
profile or inventory can be reported as ``FILE:LINE: FIELD: message``."""

from __future__ import annotations

import errno
import os
import stat
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


# A profile or inventory is small; an alias bomb expands past this long before it hurts.
MAX_EXPANDED_NODES = 200_000
MAX_FILE_BYTES = 16 * 1024 * 1024


class TooLargeError(yaml.YAMLError):
    """The document expands (through aliases) past MAX_EXPANDED_NODES values."""


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise TooLargeError(f"too many values after expanding aliases (more than "
                            f"{MAX_EXPANDED_NODES}: a YAML alias bomb?)")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, budget)


def _read(path: Path) -> str:
    """A regular file of at most MAX_FILE_BYTES (a FIFO or /dev/zero is refused, not read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise OSError(errno.EILSEQ, f"not UTF-8 text (byte {len(data)})") from None


def load_located(path: Path) -> Located:
    """Parse ``path``; raises ``OSError`` or ``yaml.YAMLError`` (callers translate them)."""
    text = _read(path)
    lines: dict[KeyPath, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _walk(node, (), lines, [MAX_EXPANDED_NODES])
        data = yaml.safe_load(text)
    except RecursionError as error:
        raise TooLargeError("nested too deeply") from error
    return Located(data=data, source=str(path), lines=lines)
