from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.errors import InventoryError, SelectionError
from fleet.inventory import load_inventory

from .conftest import INVENTORY

Write = Callable[[str, str], Path]
ROOT = Path(__file__).resolve().parents[2]


def test_example_inventory_has_the_seed_machine() -> None:
    inv = load_inventory(ROOT / "inventory.example.yaml")
    host = inv.host("2012DatacenterServer1")
    assert host is not None
    assert host.machine.subscription_id == "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
    assert host.machine.resource_group == "ContosoRG"
    assert host.machine.location == "eastus2"
    assert host.machine.os_type == "windows"


def test_host_given_as_resource_id(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          vars: {location: eastus, os_type: linux, subscription_id: ignored, resource_group: no}
          hosts:
            /subscriptions/s-1/resourceGroups/RG1/providers/Microsoft.HybridCompute/machines/m1:
        """)
    host = load_inventory(path).hosts[0]
    assert (host.name, host.machine.subscription_id, host.machine.resource_group) == ("m1", "s-1", "RG1")


def test_precedence_child_group_beats_parent_and_host_beats_all(write: Write) -> None:
    write("host_vars/h2.yaml", "x: host-file\n")
    write("group_vars/child.yml", "y: child-file\n")
    path = write("inv.yaml", """\
        all:
          vars: {subscription_id: s, resource_group: r, location: l, os_type: linux, x: all, y: all}
          children:
            parent:
              vars: {x: parent, y: parent}
              children:
                child:
                  vars: {x: child, y: child-inline}
                  hosts:
                    h1:
                    h2: {x: host}
        """)
    inv = load_inventory(path)
    h1, h2 = inv.hosts
    assert h1.vars["x"] == "child" and h1.vars["y"] == "child-file"
    assert h2.vars["x"] == "host-file"
    assert h1.groups == ("parent", "child")


def test_sim_written_shape_is_read(write: Write) -> None:
    path = write("inv.yaml", """\
        all:
          hosts:
            sim-0001:
              subscription_id: 11111111-1111-1111-1111-111111111111
              resource_group: rg-sim
              location: eastus
              os_type: Linux
              tags: {env: prod, role: web, ring: 1}
          children:
            os_linux: {hosts: {sim-0001: null}}
            location_eastus: {hosts: {sim-0001: null}}
            env_prod: {hosts: {sim-0001: null}}
            role_web: {hosts: {sim-0001: null}}
            ring_1: {hosts: {sim-0001: null}}
        """)
    inv = load_inventory(path)
    assert inv.hosts[0].machine.os_type == "linux"
    assert dict(inv.hosts[0].tags) == {"env": "prod", "role": "web", "ring": "1"}
    assert [h.name for h in inv.select("ring_1:&tag:env=prod")] == ["sim-0001"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("all: [1, 2]\n", "must be a mapping"),
        ("all:\n  hosts:\n    h1: {os_type: linux}\n", "has no subscription_id"),
        ("all:\n  vars: {subscription_id: s, resource_group: r, location: l, os_type: bsd}\n"
         "  hosts: {h1: }\n", "os_type must be windows or linux"),
        ("all:\n  hostz: {}\n", "did you mean 'hosts'"),
        ("all:\n  hosts:\n    'bad name!':\n", "invalid machine name"),
        ("all:\n  vars: {machine: x}\n  hosts: {h: }\n", "reserved"),
        ("all:\n  hosts: {h1: }\n  hosts: {h2: }\n", "duplicate key"),
        ("all: {hosts: {h1: }\n", "invalid YAML"),
        ("", "empty"),
    ],
)
def test_bad_inventory_is_one_line_with_file_and_line(write: Write, text: str, needle: str) -> None:
    path = write("inv.yaml", text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    message = info.value.one_line()
    assert needle in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_patterns(write: Write) -> None:
    inv = load_inventory(write("inv.yaml", INVENTORY))

    def names(pattern: str) -> list[str]:
        return [h.name for h in inv.select(pattern)]

    assert names("all") == ["lnx-1", "lnx-2", "win-1"]
    assert names("lnx-*") == ["lnx-1", "lnx-2"]
    assert names("linux:windows") == ["lnx-1", "lnx-2", "win-1"]
    assert names("linux,win-1") == ["lnx-1", "lnx-2", "win-1"]
    assert names("all:&tag:env=prod") == ["lnx-1", "win-1"]
    assert names("tag:ENV=prod:!windows") == ["lnx-1"]
    assert names("!linux") == ["win-1"]
    assert names("~lnx-[2-9]") == ["lnx-2"]
    assert names("tag:env") == ["lnx-1", "lnx-2", "win-1"]


@pytest.mark.parametrize("pattern", ["linx", "nothing*", "tag:env=staging", "linux:&windows", "", "a::b"])
def test_pattern_that_selects_nothing_is_an_error(write: Write, pattern: str) -> None:
    inv = load_inventory(write("inv.yaml", INVENTORY))
    with pytest.raises(SelectionError):
        inv.select(pattern)


def test_unknown_name_suggests_a_group(write: Write) -> None:
    inv = load_inventory(write("inv.yaml", INVENTORY))
    with pytest.raises(SelectionError, match="did you mean 'linux'"):
        inv.select("linx")
