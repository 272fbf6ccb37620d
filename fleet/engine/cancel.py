"""Cancel a run whose runner is gone: stop its in-flight run commands and close the run.

With a runner alive, ``fleet cancel`` only asks it (``cancel_requested`` in the journal) and the
runner stops its own in-flight jobs. With none alive, this does it: for every job that may be
running, the journal records the cancel first, then the run command is deleted (ARM stops a
running command on DELETE). Jobs never started stay
pending: ``fleet resume`` can continue them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fleet.engine.record import build_record, save_run_meta
from fleet.engine.session import Connection
from fleet.errors import FleetError
from fleet.journal import Journal, utc_now
from fleet.runlock import RunLock
from fleet.types import JobState, MachineRef, RunRecord

__all__ = ["cancel_offline"]

REASON = "canceled by the operator"


async def cancel_offline(run_dir: Path, connection: Connection) -> RunRecord:
    from fleet.arm.client import ArmClient
    from fleet.arm.credentials import build_credential
    from fleet.arm.transport import make_transport
    from fleet.report import write_reports

    with RunLock(run_dir):
        journal = Journal.open(run_dir / "journal.sqlite")
        try:
            in_flight = [r for r in journal.jobs() if r.state in (JobState.DISPATCHED, JobState.RUNNING)]
            notes: list[str] = []
            if in_flight:
                credential = build_credential(
                    connection.credential, endpoint=connection.arm_endpoint, ca_file=connection.ca_file
                )
                arm = ArmClient(
                    endpoint=connection.arm_endpoint,
                    transport=make_transport(ca_file=connection.ca_file, endpoint=connection.arm_endpoint),
                    credential=credential,
                    api_version=connection.api_version,
                )
                try:
                    for row in in_flight:
                        journal.transition(row.job_key, JobState.CANCELED, REASON, reason=REASON,
                                           ended_at=utc_now())

                    async def stop(row_machine: MachineRef, name: str, key: str) -> None:
                        try:
                            await arm.delete_run_command(row_machine, name)
                            journal.mark_cleaned(key)
                        except FleetError as error:
                            notes.append(f"could not stop {name}: {error}")

                    await asyncio.gather(*(stop(r.machine, r.run_command_name, r.job_key) for r in in_flight))
                finally:
                    await arm.aclose()
                    await credential.aclose()
            journal.set_meta(finished_at=utc_now(), cancel_requested=utc_now())
            record = build_record(
                journal, stopped="canceled", notes=(f"canceled with no runner alive: "
                                                    f"{len(in_flight)} in-flight job(s) stopped", *notes),
                storage=journal.meta().get("storage_used", "1") == "1",
            )
            save_run_meta(journal, record)
        finally:
            journal.close()
        write_reports(run_dir, record)
    return record
