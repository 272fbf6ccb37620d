"""The differences issue #16 found between fleet and ansible-core, one named test each: fleet's
answer is written out, and ansible-core (in-process) must give the same one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.errors import InventoryError, SelectionError
from fleet.inventory import load_inventory

from .oracle import AnsibleInventory

Write = Callable[[str, str], Path]


def _vars(path: Path, host: str) -> dict[str, object]:
    found = load_inventory(path).host(host)
    assert found is not None
    return dict(found.vars)


def test_d1_group_vars_files_apply_after_every_inline_group_var(write: Write) -> None:
    write("group_vars/all.yaml", "x: all-file\n")
    write("group_vars/parent.yaml", "y: parent-file\n")
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          children:
            parent:
              children:
                child:
                  vars: {x: child-inline, y: child-inline}
                  hosts: {h1: }
        """)
    got = _vars(path, "h1")
    assert (got["x"], got["y"]) == ("all-file", "parent-file")
    assert AnsibleInventory(path).vars("h1") == got


def test_d2_glob_of_only_empty_groups_inside_a_union(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          children:
            empty_a:
            empty_b: {children: {empty_c: }}
            full: {hosts: {h1: , h2: }}
        """)
    inv = load_inventory(path)
    assert [h.name for h in inv.select("empty*:full")] == ["h1", "h2"]
    assert AnsibleInventory(path).select("empty*:full") == {"h1", "h2"}
    with pytest.raises(SelectionError, match="selects no machine"):  # stricter on purpose
        inv.select("empty*")


@pytest.mark.parametrize(("files", "expected"), [
    ({"group_vars/db.yaml": "x: yaml\n", "group_vars/db.yml": "x: yml\n"}, "yml"),
    ({"group_vars/db/a.yaml": "x: folder\n", "group_vars/db.yaml": "x: file\n"}, "folder"),
    ({"group_vars/db": "x: no-extension\n", "group_vars/db.yaml": "x: file\n"}, "no-extension"),
    ({"group_vars/db/a.yaml": "x: a\n", "group_vars/db/b/c.yml": "x: nested\n"}, "nested"),
    ({"group_vars/db/a.yaml": "x: a\n", "group_vars/db/.hidden.yaml": "x: hidden\n",
      "group_vars/db/z.yaml~": "x: backup\n", "group_vars/db/z.txt": "x: txt\n"}, "a"),
    ({"group_vars/db/a.yaml": "x: a\n", "group_vars/db/zz": "x: bare\n"}, "bare"),
    ({"group_vars/db/a.yaml": "x: a\n", "group_vars/db/b.d/c.yaml": "x: dotted-dir\n"}, "a"),
], ids=["yml-before-yaml", "folder-before-file", "no-extension-first", "nested-folder",
        "hidden-backup-other-ext-skipped", "bare-file-in-folder", "folder-with-ext-skipped"])
def test_d3_vars_file_layout_is_ansibles(write: Write, files: dict[str, str],
                                         expected: str) -> None:
    for name, text in files.items():
        write(name, text)
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          children:
            db: {hosts: {h1: }}
        """)
    got = _vars(path, "h1")
    assert got["x"] == expected
    assert AnsibleInventory(path).vars("h1") == got


def test_d4_declared_ungrouped_group(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          hosts:
            h_all_only:
          children:
            ungrouped:
              hosts: {h_declared: , h_also_web: }
            web:
              hosts: {h_also_web: , h_web: }
        """)
    inv = load_inventory(path)
    ungrouped = {h.name for h in inv.select("ungrouped")}
    assert ungrouped == {"h_all_only", "h_declared"}
    assert {h.name for h in inv.hosts if "ungrouped" in h.groups} == ungrouped
    assert {h.name for h in inv.select("!ungrouped")} == {"h_also_web", "h_web"}
    oracle = AnsibleInventory(path)
    assert oracle.select("ungrouped") == ungrouped
    assert oracle.select("!ungrouped") == {"h_also_web", "h_web"}
    for host in inv.hosts:
        assert set(host.groups) == oracle.groups_of(host.name)


def test_d5_written_order_of_children_and_hosts(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          children:
            web:
              children:
                sub:
                  hosts:
                    h1: {x: from-children}
              hosts:
                h1: {x: from-hosts}
                h0:
        """)
    inv = load_inventory(path)
    assert [h.name for h in inv.hosts] == ["h1", "h0"]
    assert _vars(path, "h1")["x"] == "from-hosts"
    oracle = AnsibleInventory(path)
    assert oracle.hosts == ["h1", "h0"]
    assert oracle.vars("h1") == _vars(path, "h1")


def test_d6_commas_and_colons_in_one_pattern(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          children:
            web: {hosts: {w1: , w2: }}
            db: {hosts: {d1: }}
            canary: {hosts: {w1: , d1: }}
        """)
    inv = load_inventory(path)
    oracle = AnsibleInventory(path)
    # Ansible splits on commas only: "db:!canary" is one (unknown) name -> web only.
    assert oracle.select("web,db:!canary") == {"w1", "w2"}
    with pytest.raises(SelectionError, match="split on commas only"):  # fleet: an error
        inv.select("web,db:!canary")
    for pattern, expected in (("web,db,!canary", {"w2"}), ("web:db:!canary", {"w2"}),
                              ("web , db", {"w1", "w2", "d1"}), ("web db:&canary", {"w1", "d1"})):
        assert {h.name for h in inv.select(pattern)} == oracle.select(pattern) == expected


def test_d7_duplicate_yaml_key_is_refused_on_purpose(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          hosts:
            h1: {x: first}
            h1: {x: last}
        """)
    with pytest.raises(InventoryError, match="duplicate key") as info:
        load_inventory(path)
    assert info.value.line == 9
    assert AnsibleInventory(path).vars("h1")["x"] == "last"  # Ansible warns, takes the last
