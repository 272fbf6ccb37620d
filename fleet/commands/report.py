"""``fleet report RUN_DIR``: rebuild a run's reports from its run folder."""

from __future__ import annotations

from pathlib import Path

import click

from fleet.commands.common import guarded

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
def report(run_dir: Path, formats: tuple[str, ...], recap: bool) -> None:
    """Rebuild a run's reports (report.json, junit.xml, summary.md, report.html) from RUN_DIR.

    Prints the path of each file written. Exits 2 if RUN_DIR is not a readable run folder or
    was written by a newer fleet.
    """

    def rebuild() -> None:
        # Imported here so `fleet --help` never pays for the report modules.
        from fleet.report import ALL_FORMATS, load_record, recap_text, write_reports

        record = load_record(run_dir)
        wanted = ALL_FORMATS if "all" in formats else formats
        written = write_reports(run_dir, record, wanted)
        for path in written.values():
            click.echo(str(path))
        if recap:
            click.echo(recap_text(record), nl=False)

    guarded(rebuild)
