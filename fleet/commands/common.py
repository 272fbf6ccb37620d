"""Plumbing every subcommand shares: run a coroutine, turn a ``FleetError`` into one line and
an exit code (a traceback only with ``--debug``)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from fleet.errors import EXIT_INPUT, EXIT_INTERRUPTED, FleetError, UsageError
from fleet.termtext import clean

__all__ = ["echo", "fail", "guarded", "loop_factory", "run_async"]

T = TypeVar("T")


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("debug"):
            return True
        ctx = ctx.parent
    return False


def echo(message: str = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` for every line a command prints: control characters neutralised
    (``fleet.termtext``), since names, tags, outputs and file paths are untrusted."""
    click.echo(clean(message), err=err, nl=nl)


def fail(error: FleetError) -> NoReturn:
    if _debug():
        raise error
    echo(f"fleet: error: {error.one_line()}", err=True)
    sys.exit(error.exit_code)


def guarded(fn: Callable[[], T]) -> T:
    """Call ``fn``; a FleetError becomes one line on stderr and its exit code."""
    try:
        return fn()
    except FleetError as error:
        fail(error)
    except KeyboardInterrupt:
        echo("fleet: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit:
        raise
    except (OSError, ValueError) as error:  # last line of defence: still one line, exit 2
        if _debug():
            raise
        echo(f"fleet: error: {' '.join(str(error).split())}", err=True)
        sys.exit(EXIT_INPUT)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``name`` names: None for asyncio's own, uvloop's (the ``fast`` extra,
    off by default; its measured gain is in docs/readme/performance.md) when asked for."""
    if name == "asyncio":
        return None
    if name != "uvloop":
        raise UsageError(f"--event-loop {name}: expected asyncio or uvloop")
    try:
        import uvloop
    except ImportError as error:
        raise UsageError("--event-loop uvloop needs uvloop: pip install 'fleet[fast]'") from error
    # Typed here so mypy agrees with and without uvloop installed (without, it is Any).
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _event_loop() -> str:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "event_loop" in ctx.obj:
            return str(ctx.obj["event_loop"])
        ctx = ctx.parent
    return "asyncio"


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one coroutine to completion under ``guarded``, on the event loop ``--event-loop``
    chose."""

    def run() -> T:
        with asyncio.Runner(loop_factory=loop_factory(_event_loop())) as runner:
            return runner.run(factory())

    return guarded(run)
