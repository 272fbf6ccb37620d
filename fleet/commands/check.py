"""``fleet check PLAYBOOK|--script … -i INV``: everything a run needs, checked without running
anything: secrets resolvable, a token, ARM reachable and the credential allowed to read (a
harmless GET), every selected machine Connected with agent ≥ 1.33 and the right OS, storage
reachable with a SAS link signable. A table, and an exit code: 0 ready; 4 some machines would
be unreachable; 9 a run-wide cause; 2 bad input."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from fleet.commands.adhoc import adhoc_options, adhoc_playbook
from fleet.commands.common import echo, guarded, run_async
from fleet.commands.options import EXTRA_VARS, LIMIT, inventory_option
from fleet.commands.run import _plan, connection_options, make_connection
from fleet.errors import EXIT_OK, EXIT_RUNWIDE, EXIT_UNREACHABLE, FleetError
from fleet.report.recap import plural

__all__ = ["check"]

CHECK_RUN_ID = "check"  # the storage probe's container: fleet-check, one for every check


@click.command()
@click.argument("playbook", type=click.Path(dir_okay=False), required=False)
@inventory_option()
@LIMIT
@EXTRA_VARS
@adhoc_options
@connection_options
def check(**kw: Any) -> None:
    """Check that PLAYBOOK (or an ad-hoc --script) could run on the selected machines, without
    running anything. Exit 0 ready, 4 some machines unreachable, 9 a run-wide cause, 2 bad input."""
    kw.update(run_id=CHECK_RUN_ID, seed=0, run_dir=None, source_kind=None, subscriptions=(),
              resource_groups=(), query=None, cache_dir=None, defaults=kw.get("defaults"))
    with tempfile.TemporaryDirectory(prefix="fleet-check-") as scratch:
        adhoc = guarded(lambda: adhoc_playbook(kw, Path(scratch)))
        if adhoc is not None:
            kw["playbook"] = str(adhoc)
        plan, _inputs = guarded(lambda: _plan(kw))
        rows, unreachable = run_async(lambda: _checks(plan, kw))
    width = max(len(name) for name, _ok, _detail in rows)
    for name, ok, detail in rows:
        echo(f"{name:<{width}}  {'ok  ' if ok else 'FAIL'}  {detail}")
    for machine, reason in unreachable[:20]:
        echo(f"  {machine}: {reason}")
    if len(unreachable) > 20:
        echo(f"  … and {len(unreachable) - 20} more")
    if not all(ok for _name, ok, _detail in rows if _name != "machines"):
        sys.exit(EXIT_RUNWIDE)
    sys.exit(EXIT_UNREACHABLE if unreachable else EXIT_OK)


async def _checks(plan: Any, kw: dict[str, Any]) -> tuple[list[tuple[str, bool, str]], list[tuple[str, str]]]:
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential
    from fleet.arm.transport import make_transport
    from fleet.engine.options import EngineOptions
    from fleet.engine.preflight import preflight
    from fleet.engine.runwide import check_arm, check_storage, probe_retry, secret_problems
    from fleet.engine.session import open_storage, storage_where
    from fleet.secrets import resolve_secret

    connection = make_connection(kw)
    rows: list[tuple[str, bool, str]] = []
    problems = secret_problems(plan, resolve_secret)
    rows.append(("secrets", not problems, problems[0] if problems else "every reference resolves"))
    machines = [m for wave in plan.waves for m in wave.machines]
    unreachable: list[tuple[str, str]] = []
    credential = build_credential(connection.credential, endpoint=connection.arm_endpoint,
                                  ca_file=connection.ca_file)
    arm = ArmClient(endpoint=connection.arm_endpoint,
                    transport=make_transport(ca_file=connection.ca_file, endpoint=connection.arm_endpoint),
                    credential=credential, api_version=connection.api_version, retry=probe_retry())
    try:
        try:
            await credential.get_token()
            rows.append(("token", True, f"{connection.credential} credential"))
        except FleetError as error:
            rows.append(("token", False, error.one_line()))
        arm_ok = rows[-1][1]
        if arm_ok:
            try:
                await check_arm(arm, plan, connection.arm_endpoint)
                rows.append(("ARM", True, f"{connection.arm_endpoint} answers; reading machines is allowed"))
            except FleetError as error:
                arm_ok = False
                rows.append(("ARM", False, error.one_line()))
        if arm_ok:
            options = EngineOptions()
            reach = await preflight(arm, machines, min_agent=options.min_agent_version,
                                    list_threshold=options.preflight_list_threshold)
            unreachable = sorted((r.machine.name, r.reason or "unreachable")
                                 for r in reach.values() if not r.reachable)
            ready = len(machines) - len(unreachable)
            rows.append(("machines", not unreachable,
                         f"{ready} of {plural(len(machines), 'machine')} ready (Connected, agent "
                         f"≥ {'.'.join(map(str, options.min_agent_version))}, right OS)"))
    finally:
        await arm.aclose()
        await credential.aclose()
    storage = await open_storage(connection, CHECK_RUN_ID)
    if storage is None:
        rows.append(("storage", True, "none configured: only instanceView's last 4 KB of output"))
    else:
        try:
            await check_storage(storage, storage_where(connection))
            rows.append(("storage", True, f"{storage_where(connection)} answers; SAS links signable"))
        except FleetError as error:
            rows.append(("storage", False, error.one_line()))
        finally:
            await storage.aclose()
    return rows, unreachable
