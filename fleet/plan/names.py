"""Deterministic names: run ids, run command names, output/error blob names.

Run command names match ``^[A-Za-z0-9._-]{1,36}$`` (Arc refuses longer names on Linux) and
depend only on run id, step and attempt, so every machine gets the same name for a step and a
retry gets a new one. Blob names add the machine (name plus a hash of its resource id, since
names repeat across resource groups) because Azure overwrites blobs on every execution.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

from fleet.errors import UsageError
from fleet.types import MachineRef

__all__ = [
    "RUN_COMMAND_NAME",
    "RUN_ID",
    "blob_names",
    "check_run_id",
    "new_run_id",
    "run_command_name",
]

RUN_COMMAND_NAME = re.compile(r"^[A-Za-z0-9._-]{1,36}$")
# Lower case, digits and single hyphens: usable as a blob container name (3-63) by the engine.
RUN_ID = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,38}[a-z0-9]$")
MAX_NAME = 36


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def new_run_id(now: datetime, *, suffix: str | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxx`` in UTC; ``suffix`` (4 hex by default, random) avoids clashes
    between runs started in the same second."""
    stamp = now.astimezone(UTC) if now.tzinfo else now
    tail = suffix if suffix is not None else secrets.token_hex(2)
    return check_run_id(f"{stamp:%Y%m%d-%H%M%S}-{tail}")


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise UsageError(
            f"invalid run id {run_id!r}: 3-40 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    return run_id


def run_command_name(run_id: str, step: str, attempt: int = 1) -> str:
    """``fleet-<run>-<step>-<attempt>``, or, when that is longer than 36, a shortened form
    that keeps a hash of the full run id and step so names stay unique."""
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    full = f"fleet-{run_id}-{step}-{attempt}"
    if len(full) <= MAX_NAME and RUN_COMMAND_NAME.match(full):
        return full
    digest = _short_hash(f"{run_id}\x00{step}", 8)
    tail = f"-{digest}-{attempt}"
    head = re.sub(r"[^A-Za-z0-9._-]", "", f"f-{run_id[-15:]}-{step}")
    return head[: MAX_NAME - len(tail)].rstrip("-.") + tail


def blob_names(run_id: str, machine: MachineRef, step: str, attempt: int = 1) -> tuple[str, str]:
    """Output and error blob names for one execution (unique per run, machine, step, attempt)."""
    folder = f"{run_id}/{machine.name}-{_short_hash(machine.key, 8)}"
    base = f"{folder}/{step}.a{attempt}"
    return f"{base}.out", f"{base}.err"
