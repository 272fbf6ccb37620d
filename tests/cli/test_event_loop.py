"""``fleet --event-loop``: asyncio by default, uvloop (the ``fast`` extra) when asked for."""

from __future__ import annotations

import asyncio

import click
import pytest

from fleet.cli import main
from fleet.commands.common import loop_factory, run_async
from fleet.errors import UsageError


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def _run_under(event_loop: str | None) -> str:
    ctx = click.Context(main, obj={} if event_loop is None else {"event_loop": event_loop})
    with ctx:
        return run_async(_loop_module)


def test_commands_run_on_asyncio_by_default() -> None:
    assert loop_factory("asyncio") is None
    assert _run_under(None).startswith("asyncio")
    assert _run_under("asyncio").startswith("asyncio")


def test_commands_run_on_uvloop_when_asked() -> None:
    pytest.importorskip("uvloop")
    assert _run_under("uvloop").startswith("uvloop")


def test_an_unknown_event_loop_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="asyncio or uvloop"):
        loop_factory("trio")
