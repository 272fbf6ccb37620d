"""The ``fleet`` command: a thin click group. Each subcommand lives in its own module and is
imported only when used, so ``fleet --help`` is fast and one broken command cannot break others.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from typing import Any

import click

from fleet import __version__
from fleet.termtext import clean

__all__ = ["main"]

# command name -> ("module:attribute", one-line help shown by ``fleet --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "cancel": ("fleet.commands.cancel:cancel", "Stop a run from another terminal."),
    "check": ("fleet.commands.check:check", "Check a run could go ahead (access, machines, storage, secrets); runs nothing."),
    "commands": ("fleet.commands.housekeeping:commands", "Run commands on machines: list them, clean up fleet's leftovers."),
    "demo": ("fleet.commands.demo:demo", "Run a real rollout on a simulated fleet of 200 machines."),
    "inventory": ("fleet.commands.inventory:inventory", "List the machines an inventory selects."),
    "output": ("fleet.commands.history:output", "Print one machine's output from a run folder."),
    "plan": ("fleet.commands.plan:plan", "Show every machine's exact run command; touches nothing."),
    "report": ("fleet.commands.report:report", "Rebuild a run's reports from its run folder."),
    "resume": ("fleet.commands.resume:resume", "Continue a run after a crash, Ctrl-C or approval gate."),
    "run": ("fleet.commands.run:run", "Run a playbook (or an ad-hoc --script) across the fleet, in waves."),
    "runs": ("fleet.commands.history:runs", "List the runs in a folder (default runs/)."),
    "sweep": ("fleet.commands.sweep:sweep", "Compliance sweep: many checks per machine, a matrix, drift."),
    "sim": ("fleet_sim.cli:sim", "The ARM + Arc agent simulator (serve it, write its inventory)."),
    "status": ("fleet.commands.status:status", "Show a run's progress from its journal."),
    "temporal": ("fleet.commands.temporal:temporal", "Production mode helpers: a local Temporal dev server."),
    "worker": ("fleet.commands.worker:worker", "Production mode: run a worker (Temporal)."),
}


def _on_term(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _term_interrupts() -> None:
    """SIGTERM means what Ctrl-C means (exit 130, resumable) from the first instant, not only
    once the engine has installed its own handler (the default would exit 143 mid-planning)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_term)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        command: Any = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        _show_envvars(command)
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's own usage errors (missing option, a path that is not a file...) become one
        line and exit 2, like every other bad input, instead of a usage block."""
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        _term_interrupts()
        # Every file and folder fleet creates is its owner's only, whatever the umask (issue
        # #13 B7): run folders, reports, outputs, logs, caches, histories.
        os.umask(os.umask(0o077) | 0o077)
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.ClickException as error:
            hint = ""
            if isinstance(error, click.UsageError) and error.ctx is not None:
                hint = f" (see '{error.ctx.command_path} --help')"
            message = " ".join(error.format_message().split())
            click.echo(clean(f"fleet: error: {message}{hint}"), err=True)
            sys.exit(error.exit_code)
        except click.Abort as abort:
            if isinstance(abort.__context__, KeyboardInterrupt):  # Ctrl-C or SIGTERM
                click.echo("fleet: interrupted", err=True)
                sys.exit(130)
            click.echo("fleet: aborted", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("fleet: interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


ENVIRONMENT = """\b
Environment (each is the default of its option):
  FLEET_ARM_ENDPOINT         --arm-endpoint (default: Azure's)
  FLEET_API_VERSION          --api-version
  FLEET_CREDENTIAL           --credential (dev: the simulator's)
  FLEET_CA_FILE              --ca-file: a private CA to trust for ARM
  FLEET_STORAGE_CONNECTION_STRING
                             --storage-connection-string (by key)
  FLEET_STORAGE_ACCOUNT_URL  --storage-account-url (Entra sign-in)
  FLEET_DEFAULTS             --defaults: inventory defaults file
  FLEET_CACHE_DIR            --cache-dir: Azure source cache
  FLEET_TEMPORAL[_*]         --temporal and its options
  FLEET_TIME_SCALE           rehearsals: `fleet sim --time-scale`
  FLEET_SIM_DIR              set by `fleet sim start`, read by stop
  FLEET_AZURITE_MAIN         Azurite's main.js (else node_modules)
  FLEET_FAILPOINT            tests only: kill at a named point
Secrets: any variable a playbook names, e.g.
secret("env:FLEET_RUNAS_PASSWORD"). NO_COLOR turns colour off.

\b
Exit codes: 0 succeeded, 1 machines failed, 2 bad input,
3 halted by policy, 4 only unreachable, 9 run-wide cause
(nothing sent), 130 interrupted or canceled; fleet sweep adds
5 non-compliant, 6 new drift, 7 unable to assess, 8 locked."""


def _show_envvars(command: click.Command) -> None:
    """Every option with an environment twin says so in its --help."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _show_envvars(sub)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=ENVIRONMENT)
@click.version_option(__version__, prog_name="fleet")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--event-loop", type=click.Choice(["asyncio", "uvloop"]), default="asyncio",
              show_default=True, envvar="FLEET_EVENT_LOOP",
              help="uvloop (the `fast` extra) spends a little less CPU per machine.")
@click.pass_context
def main(ctx: click.Context, debug: bool, event_loop: str) -> None:
    """Run a change or a check across Azure Arc-enabled servers, safely, in waves."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["event_loop"] = event_loop
