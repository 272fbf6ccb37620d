"""Ad-hoc runs and rollout overrides on the command line, as Ansible's ``ansible -m shell -a``
and SSM's ``send-command`` (MaxConcurrency, MaxErrors) give them:

    fleet run --script 'systemctl restart nginx' --os linux -i INV --limit web --max-failures 5%

``--script``/``--script-file`` need no playbook: fleet writes the equivalent one into the run
folder (``adhoc-playbook.yaml``, so ``fleet resume`` rebuilds the same plan). ``--waves``,
``--max-concurrency`` and ``--max-failures`` replace the playbook's ``rollout:`` keys of the
same name, for this run only (recorded for resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from fleet.errors import InputError, UsageError

__all__ = ["ADHOC_PLAYBOOK", "adhoc_options", "adhoc_playbook", "rollout_overrides"]

ADHOC_PLAYBOOK = "adhoc-playbook.yaml"
MAX_SCRIPT_BYTES = 1024 * 1024


def adhoc_options(fn: Any) -> Any:
    options = [
        click.option("--script", "script", metavar="CMD",
                     help="Ad-hoc: run this script (no PLAYBOOK); needs --os."),
        click.option("--script-file", "script_file", type=click.Path(dir_okay=False),
                     help="Ad-hoc: run this file's script (no PLAYBOOK); needs --os."),
        click.option("--os", "os_name", type=click.Choice(["linux", "windows"]),
                     help="Ad-hoc: the machines' OS (bash on linux, PowerShell on windows)."),
        click.option("--timeout", "adhoc_timeout", default="1h", show_default=True,
                     help="Ad-hoc: the script's timeout (e.g. 90s, 15m, 1h)."),
        click.option("--waves", metavar="LIST",
                     help="Override rollout.waves: comma-separated counts, percents or "
                          "patterns, e.g. '1,10%,100%'."),
        click.option("--max-concurrency", metavar="N|P%",
                     help="Override rollout.max_concurrency (machines at once, or a percent of the wave)."),
        click.option("--max-failures", metavar="N|P%",
                     help="Override rollout.max_failures (halt when more fail; 0: on the first)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _amount(text: str) -> int | str:
    text = text.strip()
    return int(text) if text.isdigit() else text


def rollout_overrides(kw: dict[str, Any]) -> dict[str, Any]:
    """The rollout keys the command line replaces (empty: none)."""
    out: dict[str, Any] = {}
    if kw.get("waves"):
        out["waves"] = [_amount(part) for part in str(kw["waves"]).split(",") if part.strip()]
    if kw.get("max_concurrency"):
        out["max_concurrency"] = _amount(str(kw["max_concurrency"]))
    if kw.get("max_failures") is not None and str(kw["max_failures"]).strip():
        out["max_failures"] = _amount(str(kw["max_failures"]))
    return out


def adhoc_playbook(kw: dict[str, Any], run_dir: Path) -> Path | None:
    """For --script/--script-file: write the playbook they stand for into ``run_dir`` and return
    its path; None for a playbook run. Usage errors (exit 2) for inconsistent options."""
    script, script_file, playbook = kw.get("script"), kw.get("script_file"), kw.get("playbook")
    if script is None and script_file is None:
        if playbook is None:
            raise UsageError("give a PLAYBOOK, or an ad-hoc --script 'CMD' / --script-file FILE")
        return None
    if playbook is not None:
        raise UsageError("give a PLAYBOOK or --script/--script-file, not both")
    if script is not None and script_file is not None:
        raise UsageError("give --script or --script-file, not both")
    if not kw.get("os_name"):
        raise UsageError("an ad-hoc script needs --os linux or --os windows (bash or PowerShell)")
    if script_file is not None:
        from fleet.safeio import read_text

        text = read_text(Path(script_file), max_bytes=MAX_SCRIPT_BYTES, error=InputError,
                         field="--script-file", what="script file")
        title = Path(script_file).name
    else:
        text = str(script)
        title = " ".join(text.split())[:60]
    if not text.strip():
        raise UsageError("the ad-hoc script is empty")
    document = {
        "name": f"ad-hoc: {title}",
        "hosts": "all",
        "os": kw["os_name"],
        "script": text,
        "timeout": kw.get("adhoc_timeout") or "1h",
    }
    from fleet.engine.session import check_new_run_dir

    check_new_run_dir(run_dir)  # never write into a directory that is not a new run's
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / ADHOC_PLAYBOOK
    fd_path = path.with_name(path.name + ".part")
    import os

    with os.fdopen(os.open(fd_path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600), "w",
                   encoding="utf-8") as handle:
        handle.write("# written by fleet run --script/--script-file (resume reads it)\n")
        handle.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    os.replace(fd_path, path)
    return path
