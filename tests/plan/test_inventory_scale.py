"""Inventory reading stays linear in the number of hosts (a group's membership test was a
list scan: 10,000 hosts in one group cost seconds), and a file without ``sources:`` is not
parsed twice. Checked by counting work, not by timing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import fleet.inventory.loader as loader
from fleet.errors import FleetError
from fleet.inventory.drafts import NameList
from fleet.inventory.loader import load_inventory, read_sources

VARS = "  vars:\n    subscription_id: s\n    resource_group: rg\n    location: eastus\n    os_type: linux\n"


def test_namelist_is_a_list_with_set_membership() -> None:
    names = NameList(["b", "a"])
    names.append("c")
    assert names == ["b", "a", "c"] and "c" in names and "z" not in names
    names.remove("a")
    assert names == ["b", "c"] and "a" not in names


def test_a_file_without_sources_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("all:\n" + VARS + "  hosts:\n    web-01:\n")
    parsed: list[str] = []
    real = loader.load_yaml_text

    def counting(text: str, **kw: Any) -> Any:
        parsed.append(str(kw.get("file")))
        return real(text, **kw)

    monkeypatch.setattr(loader, "load_yaml_text", counting)
    assert read_sources(inv) is None and parsed == []
    load_inventory(inv)
    assert len(parsed) == 1
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text('"sources": bad\nall: {}\n')  # a quoted key is found, parsed and checked
    with pytest.raises(FleetError):
        read_sources(quoted)
    assert len(parsed) == 2


def test_ten_thousand_hosts_in_one_group_need_few_membership_checks(tmp_path: Path) -> None:
    hosts = "".join(f"        m{i:05d}:\n" for i in range(10_000))
    inv = tmp_path / "big.yaml"
    inv.write_text("all:\n" + VARS + "  children:\n    web:\n      hosts:\n" + hosts)
    checks = 0
    original = NameList.__contains__

    def counted(self: NameList, name: object) -> bool:
        nonlocal checks
        checks += 1
        return original(self, name)

    NameList.__contains__ = counted  # type: ignore[method-assign]
    try:
        inventory = load_inventory(inv)
    finally:
        NameList.__contains__ = original  # type: ignore[method-assign]
    assert len(inventory.hosts) == 10_000
    assert 0 < checks <= 5 * 10_000  # a few set lookups per host, not a scan each
