"""Command-line options are declared once (fleet/commands/options.py), so the commands that
share them cannot drift apart: same flags, environment twins, types, defaults and help."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import pytest

from fleet.arm.credentials import CREDENTIAL_NAMES
from fleet.commands.inventory import inventory
from fleet.commands.options import CREDENTIALS
from fleet.commands.plan import plan
from fleet.commands.resume import resume
from fleet.commands.run import run
from fleet.commands.sweep import run_sweep_command
from fleet.commands.worker import worker

COMMANDS = Path(__file__).resolve().parents[2] / "fleet" / "commands"

# Flags declared in more than one place on purpose: they mean different things there.
DIFFERENT_MEANINGS = {
    "--format": "each command has its own formats (plan/status share TEXT_OR_JSON)",
    "--history": "sweep run writes the history, sweep diff only reads run ids from it",
    "--seed": "fleet demo's seeds the simulated fleet, not the wave order",
    "--limit": "fleet inventory's takes no @FILE (INVENTORY_LIMIT)",
    "--timeout": "fleet cancel's bounds its wait; fleet run's ad-hoc one is the script's timeout",
    "-l": "as --limit",
}

ARM = ["arm_endpoint", "api_version", "credential", "ca_file"]
STORAGE = ["storage_connection_string", "storage_account_url"]
EVENTS = ["log_file", "verbose"]
RUN_SHAPED = ["inventory_path", "defaults", "limit", "extra_vars", "run_id", "run_dir", "seed",
              "keep", "max_output_bytes"]


def declarations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(COMMANDS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "option"):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and str(arg.value).startswith("-"):
                        found[str(arg.value)].append(f"{path.name}:{node.lineno}")
    return found


def test_no_option_is_declared_twice() -> None:
    twice = {flag: where for flag, where in declarations().items()
             if len(where) > 1 and flag not in DIFFERENT_MEANINGS}
    assert twice == {}, "declare shared options once, in fleet/commands/options.py"


def test_the_checker_sees_options() -> None:
    found = declarations()
    assert len(found["--arm-endpoint"]) == 1 and found["--arm-endpoint"][0].startswith("options.py")
    assert len(found["--seed"]) == 2  # the allowed demo/run pair is seen, so others would be


def described(command: click.Command, name: str) -> tuple[Any, ...]:
    [param] = [p for p in command.params if p.name == name]
    assert isinstance(param, click.Option)
    kind = param.type
    return (tuple(param.opts), tuple(param.secondary_opts), param.envvar,
            getattr(kind, "choices", None), type(kind).__name__,
            param.get_default(click.Context(command)), param.help,
            param.multiple, param.count, param.is_flag)


@pytest.mark.parametrize("name", ARM + STORAGE + EVENTS + RUN_SHAPED[1:])
def test_run_and_sweep_share_their_options_exactly(name: str) -> None:
    assert described(run, name) == described(run_sweep_command, name)


@pytest.mark.parametrize("name", ARM + STORAGE + ["keep", "max_output_bytes"])
def test_the_worker_takes_a_runs_connection_and_output_options(name: str) -> None:
    assert described(worker, name) == described(run, name)


@pytest.mark.parametrize("name", [*ARM, "inventory_path", "limit", "extra_vars", "run_id", "seed"])
def test_plan_takes_what_run_takes(name: str) -> None:
    assert described(plan, name) == described(run, name)


@pytest.mark.parametrize("name", ARM)
def test_inventory_takes_the_same_arm_options(name: str) -> None:
    assert described(inventory, name) == described(run, name)


@pytest.mark.parametrize("name", ARM + STORAGE + EVENTS)
def test_resume_has_the_same_flags_envvars_and_types_with_the_runs_defaults(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fleet resume` reconnects with what the run used: same options, no defaults of its own."""
    here, there = described(resume, name), described(run, name)
    assert here[:5] == there[:5]
    if name not in EVENTS:
        monkeypatch.delenv(str(here[2]), raising=False)
        parsed = resume.make_context("resume", ["RUN_DIR"], resilient_parsing=True).params
        assert parsed[name] is None  # taken from the run's journal (fleet.commands.runfolder)


def test_credential_choices_are_the_credential_names() -> None:
    assert CREDENTIALS == CREDENTIAL_NAMES
