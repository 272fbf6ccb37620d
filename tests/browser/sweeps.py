"""Two real sweeps for the browser tests (simulator with real bash, Azurite, history), the
second after the baseline tag was turned off on several machines: drift on many machines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from fleet.engine.sweep import SweepOutcome
from fleet_sim.azurite import Azurite
from fleet_sim.inventory_io import inventory_document
from fleet_sim.server import SimServer
from tests.browser.runs import END_SCRIPT, IMG
from tests.fixtures.sim import FAST
from tests.sweep.helpers import shell_profile, sweep_once

PLAYBOOK = f"""\
name: baseline <linux>
hosts: all
os: linux
timeout: 1h
checks:
  - id: echo-ok
    title: the shell answers
    severity: low
    rationale: a machine that cannot run a shell cannot be assessed
    linux: echo ok
    expect: {{output_matches: ['^ok$']}}
  - id: baseline-tag
    title: the machine's baseline tag is on
    severity: high
    rationale: machines outside the baseline miss the hardening it applies
    linux: echo {{{{ machine.tags.get('baseline', 'on') }}}}
    expect: {{output_matches: ['^on$']}}
  - id: banner-is-plain
    title: the login banner is plain text
    severity: critical
    rationale: "a banner with markup: {IMG} (shown as text)"
    linux: printf '%s\\n' '{IMG}' '{END_SCRIPT}'
    expect: {{output_matches: ['^plain$']}}
"""
TURNED_OFF = 6


async def two_sweeps(azurite: Azurite, work: Path, machines: int = 24) -> SweepOutcome:
    book = work / "sweep.yaml"
    book.write_text(PLAYBOOK)
    history = work / "history"
    config = dataclasses.replace(FAST, machines=machines, profile=shell_profile())
    async with SimServer(config) as first:
        await sweep_once(first, azurite, book, work, "sweep-a", history=history)
        fleet = inventory_document(first.machines)
        linux = [m.name for m in first.machines if m.os_type == "linux"]
    assert len(linux) > TURNED_OFF + 1, linux
    for name in linux[:TURNED_OFF]:
        fleet["all"]["hosts"][name]["tags"]["baseline"] = "off"
    changed = work / "changed-fleet.yaml"
    changed.write_text(yaml.safe_dump(fleet))
    again = dataclasses.replace(FAST, machines=None, inventory=changed, profile=shell_profile())
    async with SimServer(again) as second:
        return await sweep_once(second, azurite, book, work, "sweep-b", history=history)
