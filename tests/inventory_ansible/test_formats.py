"""INI inventories, ``ansible-inventory --list`` JSON, host ranges and subscripts: read as
ansible-core reads them (checked against it), with errors that name file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.errors import InventoryError
from fleet.inventory import load_inventory
from fleet.inventory.model import Inventory

from .oracle import AnsibleInventory

Write = Callable[[str, str], Path]
COORDS_INI = "subscription_id=s-1\nresource_group=rg\nlocation=eastus\nos_type=linux\n"


def same_as_ansible(inv: Inventory, oracle: AnsibleInventory, *, ordered: bool = True) -> None:
    if ordered:
        assert [h.name for h in inv.hosts] == oracle.hosts
    assert sorted(h.name for h in inv.hosts) == sorted(oracle.hosts)
    for host in inv.hosts:
        assert set(host.groups) == oracle.groups_of(host.name), host.name
        assert dict(host.vars) == oracle.vars(host.name), host.name


def test_ini_inventory_as_ansible_reads_it(write: Write) -> None:
    path = write("hosts", """\
        # hosts before any section are ungrouped
        lone note=plain
        [web]
        web-[01:03] n=1 flag=True items="[1, 2]" word=yes quoted="'text'"
        web-09:2222
        [web:vars]
        role = web server
        size=3
        [db]
        db-[a:c]
        [servers:children]
        web
        db
        [servers:vars]
        ansible_group_priority=5
        [all:vars]
        """ + COORDS_INI)
    inv = load_inventory(path)
    same_as_ansible(inv, AnsibleInventory(path))
    web = inv.host("web-02")
    assert web is not None
    assert (web.vars["n"], web.vars["flag"], web.vars["items"], web.vars["word"],
            web.vars["role"]) == (1, True, [1, 2], "yes", "web server")
    assert [h.name for h in inv.select("db")] == ["db-a", "db-b", "db-c"]
    assert inv.groups["servers"].priority == 5


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("[web:stuff]\nh1\n", 1, "unknown type 'stuff'"),
    ("[web]\nh1\n[all:children]\nnosuch\n", 4, "names group 'nosuch'"),
    ("[web]\nh1\n[ghost:vars]\nx=1\n", 3, "never defined"),
    ("[web]\nh1 novalue\n", 2, "expected key=value"),
    ("[web]\nh1\n[web:vars]\njust-a-word\n", 4, "expected key=value"),
    ("[web]\nweb-[3:1]\n", 2, "begin"),
    ("[web]\nweb-[01:100]\n", 2, "same width"),
    ("[web]\nh1 'unclosed\n", 2, "cannot split"),
    ("[web ]\nh1\n", 1, "invalid section header"),
    ("[web]\nbad!name\n", 2, "invalid machine name"),
    ("[web]\nh1 machine=x\n", 2, "reserved"),
])
def test_bad_ini_is_one_line_with_file_and_line(write: Write, text: str, line: int,
                                                needle: str) -> None:
    path = write("inventory.ini", text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert info.value.line == line
    message = info.value.one_line()
    assert message.startswith(f"{path}:{line}: ") and needle in message and "\n" not in message


def test_host_ranges_in_yaml_expand_as_in_ansible(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          children:
            web:
              hosts:
                web-[01:12:4]: {x: 1}
                node[a:c]-[1:2]:
                db-[8:10]:
        """)
    inv = load_inventory(path)
    same_as_ansible(inv, AnsibleInventory(path))
    assert [h.name for h in inv.hosts][:3] == ["web-01", "web-05", "web-09"]
    assert len(inv.hosts) == 3 + 6 + 3


def test_a_huge_range_is_refused_before_it_is_expanded(write: Write) -> None:
    path = write("inv.yaml", "all:\n  hosts:\n    web-[0:999999999]:\n")
    with pytest.raises(InventoryError, match="too large") as info:
        load_inventory(path)
    assert info.value.line == 3


def test_subscripts_as_in_ansible(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          hosts: {early: }
          children:
            web:
              hosts: {w3: , early: , w1: , w2: }
              children:
                web_eu: {hosts: {e1: , e2: }}
        """)
    inv = load_inventory(path)
    oracle = AnsibleInventory(path)
    for pattern in ("web[0]", "web[1]", "web[-1]", "web[1:3]", "web[4:]", "web[2:0]",
                    "web[0:99]", "w*[0]", "web[0],web_eu[-1]", "web[1-2]", "all:!web[0:1]"):
        assert {h.name for h in inv.select(pattern)} == oracle.select(pattern), pattern
    assert [h.name for h in inv.select("web[0]")] == ["w3"]  # web's own order, not the file's


def _ansible_inventory(path: Path, *extra: str) -> str:
    command = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path),
               "--list", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True,
                          env=dict(os.environ))
    return done.stdout


@pytest.mark.parametrize("export", [False, True], ids=["list", "list-export"])
def test_ansible_inventory_list_json_is_read(write: Write, export: bool) -> None:
    write("group_vars/web.yaml", "x: web-file\n")
    write("host_vars/w2.yaml", "x: w2-file\n")
    source = write("src/inv.yaml", "")
    source.unlink()
    source = write("inv.yaml", """\
        all:
          vars:
            @COORDS@
          hosts: {lone: }
          children:
            web:
              vars: {x: web-inline, ansible_group_priority: 3}
              hosts: {w1: {y: 1}, w2: }
              children:
                web_eu: {hosts: {e1: {tags: {env: prod}}}}
            db: {hosts: {d1: , w1: }}
        """)
    text = _ansible_inventory(source, *(["--export"] if export else []))
    listed = Path(source.parent / "listed" / "inv.json")
    listed.parent.mkdir()
    listed.write_text(text, encoding="utf-8")
    assert "_meta" in json.loads(text)
    inv = load_inventory(listed)
    # --list writes groups in its own order, not the file's: compare the host sets
    same_as_ansible(inv, AnsibleInventory(source), ordered=False)
    assert [h.name for h in inv.select("web:&db")] == ["w1"]
    assert dict(inv.host("e1").tags) == {"env": "prod"}  # type: ignore[union-attr]


def test_format_is_sniffed_for_files_without_extension(write: Write) -> None:
    yaml_path = write("inventory", "all:\n  vars:\n    @COORDS@\n  hosts: {h1: }\n")
    assert [h.name for h in load_inventory(yaml_path).hosts] == ["h1"]
    ini_path = write("hosts", "h1\n[all:vars]\n" + COORDS_INI)
    assert [h.name for h in load_inventory(ini_path).hosts] == ["h1"]
    json_path = write("list.json", '{"all": {"hosts": ["h1"], "vars": {"subscription_id": "s",'
                      ' "resource_group": "r", "location": "l", "os_type": "linux"}}}')
    assert [h.name for h in load_inventory(json_path).hosts] == ["h1"]


def test_bad_list_json_names_file_line_and_field(write: Write) -> None:
    path = write("inv.json", '{\n  "_meta": {"hostvars": {}},\n  "web": {"hosts": "h1"}\n}\n')
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert info.value.line == 3 and info.value.field == "web.hosts"


def test_ini_group_names_are_kept_as_written_as_ansible_does(write: Write) -> None:
    path = write("inventory.ini", "[web-servers]\nw1\n[1st]\nw2\n[all:vars]\n" + COORDS_INI)
    inv = load_inventory(path)
    same_as_ansible(inv, AnsibleInventory(path))
    assert {"web-servers", "1st"} <= set(inv.groups)
