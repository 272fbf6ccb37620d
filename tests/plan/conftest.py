"""Helpers for plan tests: write small inventories and playbooks into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

INVENTORY = """\
all:
  vars:
    subscription_id: 00000000-0000-0000-0000-0000000000aa
    resource_group: rg
    location: eastus
  children:
    linux:
      vars: {os_type: linux}
      hosts:
        lnx-1: {tags: {env: prod}}
        lnx-2: {tags: {env: dev}}
    windows:
      vars: {os_type: windows}
      hosts:
        win-1: {tags: {env: prod}}
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
