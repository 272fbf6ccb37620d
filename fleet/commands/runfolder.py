"""What ``fleet resume``, ``status`` and ``cancel`` share: open a run folder's journal, and
reconnect with the options the run was started with (the command line can override them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleet.commands.options import reconnect_options
from fleet.endpoints import API_VERSION, ARM_ENDPOINT
from fleet.engine.session import Connection
from fleet.errors import RunFolderError
from fleet.journal import Journal
from fleet.plan.limitfile import expand_limit

__all__ = ["open_meta", "rebuild_plan", "reconnect_options", "reconnection"]


def open_meta(run_dir: Path) -> dict[str, str]:
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder")
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        return journal.meta()
    finally:
        journal.close()


def reconnection(meta: dict[str, str], kw: dict[str, Any], *, need_storage: bool) -> Connection:
    def pick(name: str, default: str | None = None) -> str | None:
        value = kw.get(name)
        return value if value else (meta.get(name) or default)

    connection = Connection(
        arm_endpoint=(pick("arm_endpoint", ARM_ENDPOINT) or "").rstrip("/"),
        api_version=pick("api_version", API_VERSION) or API_VERSION,
        credential=pick("credential", "default") or "default",
        ca_file=pick("ca_file"),
        storage_connection_string=kw.get("storage_connection_string"),
        storage_account_url=pick("storage_account_url"),
    )
    if need_storage and meta.get("storage") == "key" and not connection.storage_connection_string:
        raise RunFolderError(
            "this run kept outputs in a storage account by key: give "
            "--storage-connection-string (or FLEET_STORAGE_CONNECTION_STRING) again"
        )
    return connection


def rebuild_plan(meta: dict[str, str], connection: Connection) -> Any:
    """The plan the run was started with, rebuilt from its recorded inputs. Machines listed
    from Azure come from the source cache when it is still fresh; a listing that changed is
    caught by the request-hash check."""
    import asyncio

    from fleet.commands.inventory import SourceOptions, load_for_command
    from fleet.plan.build import build_plan

    try:
        playbook = Path(meta["input_playbook"])
        inventory = Path(meta["input_inventory"]) if meta.get("input_inventory") else None
        extra_vars = json.loads(meta.get("input_extra_vars") or "{}")
        seed = int(meta.get("input_seed") or 0)
        overrides = json.loads(meta.get("input_rollout_overrides") or "{}")
        sources = json.loads(meta.get("input_sources") or "{}")
    except (KeyError, ValueError) as error:
        raise RunFolderError(f"the journal does not record how the run was started ({error})") from error
    for key in ("cache_dir", "defaults"):
        if sources.get(key):
            sources[key] = Path(sources[key])
    kw = {
        **sources,
        "arm_endpoint": connection.arm_endpoint,
        "api_version": connection.api_version,
        "credential": connection.credential,
        "ca_file": connection.ca_file,
    }
    loaded = asyncio.run(load_for_command(inventory, SourceOptions(kw)))
    return build_plan(
        playbook_path=playbook,
        inventory=loaded,
        limit=expand_limit(meta.get("input_limit") or None),
        extra_vars=extra_vars,
        run_id=meta["run_id"],
        seed=seed,
        rollout_overrides=overrides,
    )
