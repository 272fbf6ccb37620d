"""Reading an input file safely: a regular file only, size-capped, one clear error.

Every file fleet reads because a user named it (inventory, group_vars, playbook, script file,
``-e @FILE``, ``--limit @FILE``, ``secret("file:...")``, sweep history and ``sweep diff`` input,
report.json) goes through ``read_bytes``/``read_text``, so none of them can be made to:

- block forever (a FIFO: opened non-blocking, then refused because it is not a regular file),
- read without end (``/dev/zero``, ``/dev/urandom``: character devices are refused; a regular
  file is read at most ``max_bytes + 1`` bytes whatever its reported size),
- be skipped silently (a broken symbolic link or a symlink loop is an error naming the file).

Errors never quote the file's content: only its path, what it is, and a size or byte offset.
``load_json`` adds a nesting cap, so a 100,000-deep ``[[[...]]]`` is one line, not a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from fleet.errors import InputError

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_JSON_DEPTH",
    "check_depth",
    "load_json",
    "read_bytes",
    "read_text",
]

# The default cap for a file a user names: far above any real inventory or playbook.
MAX_INPUT_BYTES = 32 * 1024 * 1024
# JSON documents fleet reads (extra vars, sweep history, reports) are a few levels deep.
MAX_JSON_DEPTH = 64

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _open_error(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        if os.path.lexists(path):
            return "not found (a broken symbolic link)"
        return "not found"
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.EISDIR:
        return "is a directory, expected a file"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return f"cannot read: {exc.strerror or 'error'}"


def read_bytes(path: Path | str, *, max_bytes: int = MAX_INPUT_BYTES,
               error: type[InputError] = InputError, field: str | None = None,
               what: str = "file") -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``; else ``error``."""
    file = str(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"{what} {_open_error(Path(file), exc)}", file=file, field=field) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} is {_kind(info.st_mode)}, expected a regular file", file=file,
                        field=field)
        if info.st_size > max_bytes:
            raise error(f"{what} is too large ({info.st_size} bytes, at most {max_bytes})",
                        file=file, field=field)
        chunks: list[bytes] = []
        total = 0
        while True:  # the size can lie (/proc, a file still growing): count what is read
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{what} is too large (more than {max_bytes} bytes)", file=file,
                            field=field)
    except OSError as exc:
        raise error(f"{what} {_open_error(Path(file), exc)}", file=file, field=field) from exc
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: Path | str, *, max_bytes: int = MAX_INPUT_BYTES,
              error: type[InputError] = InputError, field: str | None = None,
              what: str = "file") -> str:
    """``read_bytes`` decoded as UTF-8 (a BOM is dropped); invalid UTF-8 is ``error`` naming
    the byte offset only, never the bytes."""
    data = read_bytes(path, max_bytes=max_bytes, error=error, field=field, what=what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text (byte {exc.start})", file=str(path),
                    field=field) from exc


def check_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> int | None:
    """The first depth beyond ``max_depth`` found in nested lists/dicts, or None when within.
    Iterative: a deep value cannot exhaust the Python stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return depth
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return None


def load_json(text: str, *, file: str | None = None, error: type[InputError] = InputError,
              field: str | None = None, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON with a nesting cap. Errors name line and column, never the text."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg} (column {exc.colno})",
                    file=file, line=exc.lineno if file else None, field=field) from exc
    except RecursionError as exc:
        raise error(f"JSON nested too deeply (more than {max_depth} levels)", file=file,
                    field=field) from exc
    if check_depth(value, max_depth) is not None:
        raise error(f"JSON nested too deeply (more than {max_depth} levels)", file=file,
                    field=field)
    return value
