"""Every command-line option that more than one command takes, declared once: its flags,
environment twin, type, default and help. Commands pick the blocks they need, so ``fleet run``,
``fleet sweep run``, ``fleet resume``, ``fleet plan``, ``fleet inventory``, ``fleet worker``
and ``fleet demo`` cannot drift apart (tests/unit/test_options.py checks that no option is
declared anywhere else).

Blocks, in the order ``--help`` lists them:

- ``inventory_option(required=...)``, ``DEFAULTS``, ``LIMIT``/``INVENTORY_LIMIT``,
  ``EXTRA_VARS``: what to run on;
- ``RUN_ID``, ``RUN_DIR``, ``SEED``: which run and where its folder goes;
- ``output_options``: ``--keep``, ``--max-output-bytes``;
- ``event_options``: ``--log-file``, ``-v``;
- ``source_options``: Azure inventory sources and their cache;
- ``arm_options`` / ``connection_options`` (ARM, plus storage) for a new run, and
  ``reconnect_options`` for an existing one (no defaults: what is not given is the run's);
- ``report_storage_options``: the storage of a finished run, for ``fleet report``;
  ``storage_options(...)`` for another purpose (a schedule's inputs and history).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fleet.endpoints import API_VERSION, API_VERSIONS, ARM_ENDPOINT

__all__ = [
    "CREDENTIALS",
    "DEFAULTS",
    "EXTRA_VARS",
    "INVENTORY_LIMIT",
    "LIMIT",
    "RUN_DIR",
    "RUN_ID",
    "SEED",
    "TEXT_OR_JSON",
    "VERBOSE",
    "YES",
    "arm_options",
    "connection_options",
    "event_options",
    "inventory_option",
    "options",
    "output_options",
    "reconnect_options",
    "report_storage_options",
    "source_options",
    "storage_options",
]

Decorator = Callable[[Any], Any]

# fleet.arm.credentials.CREDENTIAL_NAMES (a test keeps the two equal): importing it here would
# load the HTTP stack for every command, `fleet plan` included.
CREDENTIALS = ("default", "cli", "managed-identity", "environment", "dev")


def options(*decorators: Decorator) -> Decorator:
    """One decorator applying ``decorators`` so that ``--help`` lists them in this order."""

    def apply(fn: Any) -> Any:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


# -- what to run on --------------------------------------------------------------------------

def inventory_option(*, required: bool = False) -> Decorator:
    return click.option(
        "-i", "--inventory", "inventory_path", required=required, default=None,
        type=click.Path(path_type=Path, dir_okay=False),
        help=_INVENTORY_FORMATS + ("." if required else " (optional with --source or --query)."),
    )


_INVENTORY_FORMATS = "Inventory file: Ansible YAML, INI, or ansible-inventory --list JSON"
DEFAULTS = click.option(
    "--defaults", "defaults", envvar="FLEET_DEFAULTS", default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML file with the Azure keys an Ansible inventory lacks "
         "(subscription_id, resource_group, location, os_type).",
)


LIMIT = click.option(
    "-l", "--limit", default=None,
    help="Only machines matching this pattern (names, globs, groups, a:b, a:&b, a:!b, "
         "tag:k=v), or @FILE: the machines FILE names, one a line (e.g. a run's retry.txt).",
)
# `fleet inventory` lists what a pattern selects; it takes no @FILE.
INVENTORY_LIMIT = click.option(
    "-l", "--limit", default=None,
    help="Pattern: names, globs, groups, a:b, a:&b, a:!b, tag:k=v (default: all).",
)
EXTRA_VARS = click.option(
    "-e", "--extra-vars", "extra_vars", multiple=True,
    help="key=value, a JSON object, or @file.yaml (repeatable; highest precedence).",
)

# -- which run, where ------------------------------------------------------------------------

# Every number on the command line is bounded (issue #13 B7): a value out of range is one line
# naming the option, exit 2, before anything starts.
MAX_SEED = 2**32 - 1
MAX_OUTPUT_BYTES = 2**30


class BoundedFloat(click.FloatRange):
    """A float in [low, high]: click's FloatRange lets ``nan`` through (every comparison with
    it is false); this one does not."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__(low, high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:  # nan
            self.fail(f"{value!r} is not a number in the range {self.min:g}<=x<={self.max:g}", param, ctx)
        return number

RUN_ID = click.option(
    "--run-id", default=None,
    help="Run id (default: a new, time-based one). Names the run folder, run commands, blobs.",
)
RUN_DIR = click.option(
    "--run-dir", type=click.Path(file_okay=False), help="Run folder (default: runs/RUN_ID).",
)
SEED = click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED),
    help="Wave order: 0 keeps inventory order; other values shuffle stably.",
)

# `fleet run`, `fleet commands clean`: a change that asks first, on a terminal.
YES = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
# `fleet plan`, `fleet status`, `fleet commands list`: for people or for programs.
TEXT_OR_JSON = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
)

# -- outputs and events ----------------------------------------------------------------------

output_options = options(
    click.option("--keep", is_flag=True,
                 help="Keep run command resources on the machines (default: delete)."),
    click.option("--max-output-bytes", default=16 * 1024 * 1024, show_default=True,
                 type=click.IntRange(0, MAX_OUTPUT_BYTES),
                 help="Keep at most the last this many bytes of each output or error blob "
                      "(0: keep none, sizes only; at most 1 GiB)."),
)
VERBOSE = click.option(
    "-v", "--verbose", count=True,
    help="More detail on the terminal (-v: each machine's end, -vv: every transition).",
)
event_options = options(
    click.option("--log-file", type=click.Path(dir_okay=False),
                 help="Append one JSON line per event here."),
    VERBOSE,
)

# -- inventory sources -----------------------------------------------------------------------

source_options = options(
    click.option("--source", "source_kind", type=click.Choice(["arm", "resource-graph"]),
                 default=None, help="Also list machines from Azure: arm (needs "
                 "--subscription) or resource-graph (needs --query)."),
    click.option("--subscription", "subscriptions", multiple=True,
                 help="Subscription id for --source arm or --query (repeatable)."),
    click.option("--resource-group", "resource_groups", multiple=True,
                 help="Only this resource group, with --source arm (repeatable)."),
    click.option("--query", default=None,
                 help="A Resource Graph KQL query (implies --source resource-graph)."),
    click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
                 envvar="FLEET_CACHE_DIR", default=None,
                 help="Where source listings are cached (default ~/.cache/fleet)."),
    click.option("--refresh", is_flag=True,
                 help="Ask Azure even when the cached listing is fresh."),
    click.option("--no-cache", "no_cache", is_flag=True,
                 help="Neither read nor write the cache."),
    DEFAULTS,
)

# -- ARM and storage -------------------------------------------------------------------------

_THE_RUNS = "Default: the run's."


def _arm(*, from_run: bool) -> Decorator:
    """A new run has defaults; an existing run (``from_run``) defaults to what it used."""

    def default(value: str, help_text: str) -> dict[str, Any]:
        if from_run:
            return {"help": _THE_RUNS}
        return {"default": value, "show_default": True, "help": help_text}

    return options(
        click.option("--arm-endpoint", envvar="FLEET_ARM_ENDPOINT",
                     **default(ARM_ENDPOINT, "ARM endpoint (the simulator's, for rehearsals).")),
        click.option("--api-version", envvar="FLEET_API_VERSION", type=click.Choice(API_VERSIONS),
                     **default(API_VERSION, "Microsoft.HybridCompute api-version.")),
        click.option("--credential", envvar="FLEET_CREDENTIAL", type=click.Choice(CREDENTIALS),
                     **default("default",
                               "How to get ARM tokens; `dev` only for a loopback simulator.")),
        click.option("--ca-file", envvar="FLEET_CA_FILE", type=click.Path(dir_okay=False),
                     help=_THE_RUNS if from_run
                     else "Trust this CA (PEM) for ARM, e.g. the simulator's."),
    )


def storage_options(key_help: str, url_help: str) -> Decorator:
    """``--storage-connection-string`` and ``--storage-account-url``; what the storage is for
    depends on the command, so the help does too."""
    return options(
        click.option("--storage-connection-string", envvar="FLEET_STORAGE_CONNECTION_STRING",
                     help=key_help),
        click.option("--storage-account-url", envvar="FLEET_STORAGE_ACCOUNT_URL", help=url_help),
    )


arm_options = _arm(from_run=False)
connection_options = options(
    arm_options,
    storage_options("Storage account for outputs, by key (service SAS per blob).",
             "Storage account URL for outputs, by Entra sign-in (user delegation SAS)."),
)
reconnect_options = options(
    _arm(from_run=True),
    storage_options("Needed again if the run used one (it is never stored).", _THE_RUNS),
)
report_storage_options = storage_options(
    "With --temporal or --recollect: the run's storage account, by key "
    "(never stored: give it again).",
    "With --temporal or --recollect: the run's storage account, by Entra sign-in.",
)
