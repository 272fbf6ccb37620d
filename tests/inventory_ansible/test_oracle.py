"""Differential tests: random inventories and patterns, fleet against ansible-core in-process.

Compared: the hosts (and their order), each host's groups and merged variables, each group's
members, and what each pattern selects; then the same inventory as ``ansible-inventory --list``
would print it (hosts, groups, variables) read back by fleet. fleet is stricter on purpose in one way only here: a
pattern that selects nothing, or names something that is neither a host nor a group, is an
error; then ansible-core must have selected nothing or ignored an unknown name.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fleet.errors import SelectionError
from fleet.inventory import load_inventory
from fleet.inventory.model import Inventory
from fleet.inventory.patterns import parse_pattern

from .model import InventorySpec, inventories, patterns
from .oracle import AnsibleInventory

EXAMPLES = 120
PATTERNS_PER_INVENTORY = 12
# No shrinking: a failure's message already holds the whole inventory and pattern, and
# shrinking ansible-core round trips on a busy machine takes minutes.
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                     phases=[Phase.explicit, Phase.reuse, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _unknown_term(oracle: AnsibleInventory, pattern: str) -> bool:
    """Some term of ``pattern`` matches no host or group name (fleet refuses it)."""
    from ansible.inventory.manager import split_host_pattern

    manager = oracle.manager
    for term in split_host_pattern(pattern):
        expr, _ = manager._split_subscript(term.lstrip("&!"))
        if not manager._match_list(manager._inventory.groups, expr) \
                and not manager._match_list(manager._inventory.hosts, expr):
            return True
    return False


def _deterministic(inv: Inventory, group: str) -> bool:
    """Ansible orders a group's descendants through a set: its subscripts are reproducible
    only when at most one group per level below it has children."""
    level = [group]
    seen = {group}
    while level:
        nxt = [c for g in level for c in inv.groups[g].children if c not in seen]
        if sum(1 for g in [*level, *nxt] if inv.groups[g].children and g != group) > 1:
            return False
        seen.update(nxt)
        level = nxt
    return True


def listing(oracle: AnsibleInventory) -> dict[str, Any]:
    """What ``ansible-inventory --list`` prints (its json_inventory), from the oracle's own
    objects: groups with their hosts (not all's) and children, empty groups left out, every
    host's merged variables in _meta.hostvars."""
    out: dict[str, Any] = {}
    for name, group in oracle.manager.groups.items():
        body: dict[str, Any] = {}
        if name != "all" and group.hosts:
            body["hosts"] = [h.name for h in group.hosts]
        if group.child_groups:
            body["children"] = [g.name for g in group.child_groups]
        if body:
            out[name] = body
    out["_meta"] = {"hostvars": {h: oracle.vars(h) for h in oracle.hosts}}
    return out


def compare(spec: InventorySpec, chosen: list[str], folder: Path, *, ini: bool = False
            ) -> None:
    path = spec.write(folder, ini=ini)
    inv = load_inventory(path)
    oracle = AnsibleInventory(path)
    assert [h.name for h in inv.hosts] == oracle.hosts, path.read_text()
    for host in inv.hosts:
        assert set(host.groups) == oracle.groups_of(host.name), host.name
        assert dict(host.vars) == oracle.vars(host.name), (host.name, spec)
    for group in inv.groups:
        assert set(inv.group_members(group)) == oracle.group_hosts(group), group
    listed_path = folder / "listed" / "inventory.json"
    listed_path.parent.mkdir()
    listed_path.write_text(json.dumps(listing(oracle)), encoding="utf-8")
    listed = load_inventory(listed_path)
    assert sorted(h.name for h in listed.hosts) == sorted(oracle.hosts)
    for host in listed.hosts:
        assert set(host.groups) == oracle.groups_of(host.name), ("listed", host.name)
        assert dict(host.vars) == oracle.vars(host.name), ("listed", host.name)
    for pattern in chosen:
        expected = oracle.select(pattern)
        try:
            got = {h.name for h in inv.select(pattern)}
        except SelectionError:
            assert not expected or _unknown_term(oracle, pattern), (pattern, expected)
            continue
        assert got == expected, pattern
    for group in inv.groups:
        if not inv.group_members(group) or not _deterministic(inv, group):
            continue
        count = len(oracle.select(group))
        for sub in ("[0]", "[-1]", f"[{count - 1}]", "[0:1]", "[1:]", f"[0:{count + 3}]"):
            pattern = group + sub
            expected = [h.name for h in oracle.manager.get_hosts(pattern)] \
                if _subscript_ok(oracle, pattern) else None
            try:
                got = {h.name for h in inv.select(pattern)}
            except SelectionError:
                assert not expected, pattern
                continue
            assert expected is not None and got == set(expected), pattern


def _subscript_ok(oracle: AnsibleInventory, pattern: str) -> bool:
    from ansible.errors import AnsibleError

    oracle.manager.clear_pattern_cache()
    try:
        oracle.manager.get_hosts(pattern)
    except AnsibleError:
        return False
    return True


@_SETTINGS
@given(st.data())
def test_fleet_reads_inventories_as_ansible_core_does(data: st.DataObject) -> None:
    spec = data.draw(inventories())
    chosen = data.draw(st.lists(patterns(spec), min_size=1, max_size=PATTERNS_PER_INVENTORY))
    for pattern in chosen:
        parse_pattern(pattern)
    with tempfile.TemporaryDirectory(prefix="fleet-oracle-") as folder:
        compare(spec, chosen, Path(folder))


@settings(_SETTINGS, max_examples=EXAMPLES // 2)
@given(st.data())
def test_fleet_reads_ini_inventories_as_ansible_core_does(data: st.DataObject) -> None:
    spec = data.draw(inventories())
    chosen = data.draw(st.lists(patterns(spec), min_size=1, max_size=PATTERNS_PER_INVENTORY // 2))
    with tempfile.TemporaryDirectory(prefix="fleet-oracle-ini-") as folder:
        compare(spec, chosen, Path(folder), ini=True)
