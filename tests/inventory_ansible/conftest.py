"""Write inventories into tmp_path; every host gets the keys fleet needs from all.vars."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

COORDS = ("subscription_id: s-1\n    resource_group: rg\n    location: eastus\n"
          "    os_type: linux")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("@COORDS@", COORDS), encoding="utf-8")
        return path

    return _write
