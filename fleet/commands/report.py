"""``fleet report RUN_DIR``: rebuild a run's reports from its run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fleet.commands.common import echo, guarded, run_async
from fleet.commands.options import report_storage_options
from fleet.commands.temporal import temporal_options
from fleet.types import RunRecord

__all__ = ["report"]

_CHOICES = ("json", "junit", "md", "html", "all")


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format",
    "formats",
    type=click.Choice(_CHOICES),
    multiple=True,
    default=("all",),
    show_default=True,
    help="Which report to rebuild; repeat for several.",
)
@click.option("--recap", is_flag=True, help="Also print the terminal recap of the run.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="With --temporal: the folder to write into (default: runs/RUN_ID).")
@click.option("--recollect", is_flag=True,
              help="First download the outputs the run could not (needs the run's storage).")
@report_storage_options
@temporal_options
def report(run_dir: Path, formats: tuple[str, ...], recap: bool, recollect: bool,
           **kw: Any) -> None:
    """Rebuild a run's reports (report.json, junit.xml, summary.md, report.html) from RUN_DIR.

    The journal (journal.sqlite) is the source of truth: every report is rebuilt from it, even
    if report.json was deleted or the run is still going. A folder with only a report.json
    (e.g. copied without its journal) is rebuilt from that. Prints the path of each file
    written. Exits 2 if RUN_DIR is not a readable run folder or was written by a newer fleet.

    With --recollect, outputs the run could not download (a busy runner, a storage timeout)
    are fetched from the run's blobs first; the blobs outlive the run commands.
    """

    if kw.get("temporal"):  # RUN_DIR is a production run's id: fetch its artifacts
        from fleet.commands.temporal import report_temporal

        report_temporal(str(run_dir), kw, kw.get("out_dir"))
        return

    def rebuild() -> None:
        if recollect:
            run_async(lambda: _recollect(
                run_dir, kw.get("storage_connection_string"), kw.get("storage_account_url")))
        # Imported here so `fleet --help` never pays for the report modules.
        from fleet.report import ALL_FORMATS, load_record, recap_text, write_reports

        record = _from_journal(run_dir) or load_record(run_dir)
        wanted = ALL_FORMATS if "all" in formats else formats
        written = write_reports(run_dir, record, wanted)
        for path in written.values():
            echo(str(path))
        if recap:
            echo(recap_text(record), nl=False)

    guarded(rebuild)


def _from_journal(run_dir: Path) -> RunRecord | None:
    from fleet.engine.record import record_from_journal
    from fleet.journal import Journal

    if not (run_dir / "journal.sqlite").is_file():
        return None
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        return record_from_journal(journal)
    finally:
        journal.close()


async def _recollect(run_dir: Path, conn: str | None, account_url: str | None) -> None:
    from fleet.clock import MonotonicClock
    from fleet.commands.runfolder import open_meta, reconnection
    from fleet.engine.options import EngineOptions
    from fleet.engine.recollect import recollect_run_folder
    from fleet.engine.session import open_storage
    from fleet.errors import RunFolderError
    from fleet.journal import Journal

    meta = open_meta(run_dir)
    connection = reconnection(
        meta, {"storage_connection_string": conn, "storage_account_url": account_url},
        need_storage=True,
    )
    storage = await open_storage(connection, meta.get("run_id", ""))
    if storage is None:
        raise RunFolderError(f"{run_dir}: the run kept no outputs in storage: nothing to recollect")
    journal = Journal.open(run_dir / "journal.sqlite")
    try:
        async with storage:
            outcome = await recollect_run_folder(
                run_dir, journal, storage, MonotonicClock(), EngineOptions().max_output_bytes
            )
    finally:
        journal.close()
    echo(f"recollected {outcome.recovered} of {outcome.tried} output(s)"
               + (f"; {outcome.still_missing} still unreadable" if outcome.still_missing else ""))
