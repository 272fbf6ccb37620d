"""A folder of source listings with a TTL, so a sweep of 1,000 machines does not spend ARM
reads (or Resource Graph quota) on listing them every time.

One JSON file per source definition, named by a digest of everything that changes the answer
(endpoint, kind, subscriptions, resource groups, query). A listing older than the TTL, or
dated in the future (a clock that jumped back), is stale. The clock is injected: tests move it,
they never wait. Files are written atomically, readable by their owner only.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleet.errors import InputError, InventoryError
from fleet.inventory.sources.model import Discovered
from fleet.safeio import load_json, read_text

__all__ = ["CACHE_SCHEMA", "SourceCache", "default_cache_dir", "iso_utc"]

CACHE_SCHEMA = "fleet.inventory-cache/1"
# 100,000 machines with their tags: well under this.
MAX_CACHE_BYTES = 256 * 1024 * 1024


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fleet`` or ``~/.cache/fleet``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "fleet"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class SourceCache:
    """``get`` a fresh listing or None; ``put`` a new one. ``now`` returns an aware datetime."""

    def __init__(self, folder: Path, *, now: Callable[[], datetime]) -> None:
        self.folder = folder
        self._now = now

    def path_for(self, key: str) -> Path:
        return self.folder / f"inventory-{key[:32]}.json"

    def get(self, key: str, *, ttl_s: int, label: str) -> list[Discovered] | None:
        if ttl_s <= 0:
            return None
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            data = load_json(read_text(path, max_bytes=MAX_CACHE_BYTES))
        except InputError:
            return None  # a damaged cache file is a miss, not an error: the source is the truth
        if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
            return None
        fetched = _parse_iso(data.get("fetched_at"))
        machines = data.get("machines")
        if fetched is None or not isinstance(machines, list):
            return None
        age_s = (self._now() - fetched).total_seconds()
        if age_s < 0 or age_s >= ttl_s:
            return None
        snapshot = iso_utc(fetched)
        return [Discovered.from_json(m, source=label, snapshot_at=snapshot, from_cache=True)
                for m in machines if isinstance(m, dict)]

    def put(self, key: str, *, label: str, machines: Sequence[Discovered], fetched_at: str) -> None:
        body = {"schema": CACHE_SCHEMA, "source": label, "fetched_at": fetched_at,
                "machines": [m.to_json() for m in machines]}
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".inventory-", dir=self.folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(body, handle, separators=(",", ":"))
                os.replace(tmp, self.path_for(key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise InventoryError(f"cannot write the inventory cache in {self.folder}: "
                                 f"{error.strerror or error}", hint="use --cache-dir or "
                                 "--no-cache") from error
