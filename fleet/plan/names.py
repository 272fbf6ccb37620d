"""Deterministic names: run ids, run command names, output/error blob names.

Run command names match ``^[A-Za-z0-9._-]{1,36}$`` (Arc refuses longer names on Linux) and
depend only on run id, run instance, step and attempt, so every machine gets the same name for a
step and a retry gets a new one. Blob names add the machine (name plus a hash of its resource
id, since names repeat across resource groups) because Azure overwrites blobs on every execution.

The *instance* is a random tag drawn when a run folder's journal is created (``fleet run``):
two runs given the same ``--run-id`` in two run folders still name their run commands and
blobs apart, so neither can adopt, poll or delete the other's (issue #13, A1).
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
    "new_instance",
    "new_run_id",
    "run_command_name",
]

RUN_COMMAND_NAME = re.compile(r"^[A-Za-z0-9._-]{1,36}$")
# Lower case, digits and single hyphens: usable as a blob container name (3-63) by the engine.
RUN_ID = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,38}[a-z0-9]$")
INSTANCE = re.compile(r"^[a-z0-9]{0,16}$")
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


def new_instance() -> str:
    """A run folder's instance tag: 6 random hex digits."""
    return secrets.token_hex(3)


def _identity(run_id: str, instance: str) -> str:
    if not INSTANCE.match(instance):
        raise ValueError(f"invalid run instance {instance!r}")
    return f"{run_id}.{instance}" if instance else run_id


def run_command_name(run_id: str, step: str, attempt: int = 1, instance: str = "") -> str:
    """``fleet-<run>[.<instance>]-<step>-<attempt>``, or, when that is longer than 36, a
    shortened form that keeps a hash of the full run id, instance and step so names stay
    unique."""
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    ident = _identity(run_id, instance)
    full = f"fleet-{ident}-{step}-{attempt}"
    if len(full) <= MAX_NAME and RUN_COMMAND_NAME.match(full):
        return full
    digest = _short_hash(f"{ident}\x00{step}", 8)
    tail = f"-{digest}-{attempt}"
    head = re.sub(r"[^A-Za-z0-9._-]", "", f"f-{ident[-15:]}-{step}")
    return head[: MAX_NAME - len(tail)].rstrip("-.") + tail


def blob_names(
    run_id: str, machine: MachineRef, step: str, attempt: int = 1, instance: str = ""
) -> tuple[str, str]:
    """Output and error blob names for one execution (unique per run folder, machine, step,
    attempt)."""
    folder = f"{_identity(run_id, instance)}/{machine.name}-{_short_hash(machine.key, 8)}"
    base = f"{folder}/{step}.a{attempt}"
    return f"{base}.out", f"{base}.err"
