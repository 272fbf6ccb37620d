"""``--limit @FILE``: select the machines named in a file, one per line (as Ansible's retry
files). Every run folder has one, ``retry.txt``, naming the machines that did not succeed."""

from __future__ import annotations

from pathlib import Path

from fleet.errors import SelectionError

__all__ = ["expand_limit"]


def expand_limit(limit: str | None) -> str | None:
    """``@FILE`` becomes a union pattern of the names in FILE; anything else is unchanged."""
    if limit is None or not limit.startswith("@"):
        return limit
    path = Path(limit[1:])
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SelectionError(f"cannot read the limit file: {error.strerror or error}",
                             file=str(path), field="--limit") from error
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise SelectionError("the limit file names no machine (nothing to run)", file=str(path),
                             field="--limit")
    for number, name in enumerate(names, start=1):
        if any(ch in name for ch in ":,&!*?[] "):
            raise SelectionError(f"{name!r} is not a machine name", file=str(path), line=number,
                                 field="--limit", hint="one machine name per line")
    return ":".join(names)
