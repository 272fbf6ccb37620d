"""``--limit @FILE``: select the machines named in a file, one per line (as Ansible's retry
files). Every run folder has one, ``retry.txt``, naming the machines that did not succeed."""

from __future__ import annotations

from pathlib import Path

from fleet.errors import SelectionError
from fleet.safeio import read_text

__all__ = ["expand_limit"]

# 100,000 machine names fit in a few MB.
MAX_LIMIT_FILE_BYTES = 8 * 1024 * 1024


def expand_limit(limit: str | None) -> str | None:
    """``@FILE`` becomes a union pattern of the names in FILE; anything else is unchanged."""
    if limit is None or not limit.startswith("@"):
        return limit
    path = Path(limit[1:])
    lines = read_text(path, max_bytes=MAX_LIMIT_FILE_BYTES, error=SelectionError,
                      field="--limit", what="limit file").splitlines()
    names: list[str] = []
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if any(ch in name for ch in ":,&!*?[] ") or not name.isprintable():
            # The line is not quoted: the file may be anything (a password file by mistake).
            raise SelectionError("not a machine name", file=str(path), line=number,
                                 field="--limit", hint="one machine name per line")
        names.append(name)
    if not names:
        raise SelectionError("the limit file names no machine (nothing to run)", file=str(path),
                             field="--limit")
    return ":".join(names)
