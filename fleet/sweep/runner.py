"""Render one machine's checks into its runner script (used by the plan builder)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from fleet.sweep.compile import RunnerCheck, compile_runner
from fleet.sweep.model import Check

__all__ = ["applicable", "derived_nonce", "runner_script"]

# (snippet template, line, field) -> rendered text, quoted for the machine's OS
RenderSnippet = Callable[[str, int | None, str], str]


def applicable(checks: Sequence[Check], os_name: str) -> list[Check]:
    """The checks with a snippet for ``os_name``, in playbook order."""
    return [c for c in checks if c.snippet(os_name) is not None]


def derived_nonce(run_id: str, playbook_sha256: str) -> str:
    """A nonce for plans built without one (``fleet plan``): stable for the same inputs, and
    different for every run id. ``fleet sweep`` passes a random one instead."""
    return hashlib.sha256(f"fleet-sweep\x00{run_id}\x00{playbook_sha256}".encode()).hexdigest()[:32]


def runner_script(checks: Sequence[Check], os_name: str, *, nonce: str,
                  render: RenderSnippet) -> str:
    """The runner for one machine: each applicable check's snippet rendered by ``render``.
    Indexes are the checks' positions in the playbook (1-based), so they are stable per OS."""
    runner_checks = []
    for index, check in enumerate(checks, start=1):
        snippet = check.snippet(os_name)
        if snippet is None:
            continue
        text = render(snippet, check.line, f"checks.{check.id}.{os_name}")
        runner_checks.append(RunnerCheck(index, check.id, check.timeout_s, text))
    return compile_runner(os_name, runner_checks, nonce=nonce)
