"""An Ansible inventory plus one small file is enough: ``--defaults FILE`` gives the Azure keys
(subscription_id, resource_group, location, os_type) that Ansible inventories do not carry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleet.cli import main
from fleet.errors import InventoryError
from fleet.inventory import load_inventory
from fleet.inventory.defaults import load_defaults

Write = Callable[[str, str], Path]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ansible"


def _plan(inventory: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["plan", str(EXAMPLE / "playbook.yaml"), "-i",
                                       str(inventory), "--defaults",
                                       str(EXAMPLE / "fleet-defaults.yaml"), "--format", "json",
                                       "--run-id", "20261129-000000-ab12", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_example_ini_inventory_plus_defaults_is_enough_to_plan() -> None:
    plan = _plan(EXAMPLE / "hosts.ini")
    machines = {m["name"]: m for wave in plan["waves"] for m in wave["machines"]}  # type: ignore[attr-defined]
    assert len(machines) == 8
    assert machines["win-app-a"]["os_type"] == "windows"  # from the group convention
    assert machines["web-01"]["os_type"] == "linux"
    assert machines["web-eu-01"]["location"] == "westeurope"  # the inventory's own value wins
    assert machines["db-01"]["resource_group"] == "rg-prod"  # from the defaults' vars


def test_example_ansible_inventory_listing_plus_defaults_is_enough_to_plan() -> None:
    plan = _plan(EXAMPLE / "listed.json", "--limit", "tag_env_prod")
    (machine,) = [m for wave in plan["waves"] for m in wave["machines"]]  # type: ignore[attr-defined]
    assert machine["id"].endswith("/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/"
                                  "machines/arc-lnx-01")  # from azure_rm's `id`
    assert (machine["location"], machine["os_type"]) == ("westeurope", "linux")


def test_without_defaults_the_error_says_what_is_missing_and_where() -> None:
    result = CliRunner().invoke(main, ["inventory", "-i", str(EXAMPLE / "hosts.ini")])
    assert result.exit_code == 2
    assert "hosts.ini:4: hosts.web-01.os_type: machine 'web-01' has no os_type" in result.output
    assert "--defaults" in result.output


def test_each_key_comes_from_the_first_place_that_gives_it(write: Write) -> None:
    defaults = load_defaults(write("d.yaml", """\
        vars: {subscription_id: s-default, resource_group: rg-default, location: l-default,
               os_type: linux}
        os_type: {windows: ["win*"]}
        from: {location: azure.region, os_type: platform}
        """))
    path = write("inv.yaml", """\
        all:
          children:
            winboxes:
              hosts:
                w1: {platform: linux}       # from: beats the group rule
                w2:                         # the group rule beats vars
                w3: {os_type: linux, azure: {region: r-host}}
            other:
              vars: {location: l-group}     # an inventory variable beats from: and vars
              hosts: {o1: {azure: {region: r-other}}}
        """)
    inv = load_inventory(path, defaults=defaults)
    got = {h.name: (h.machine.os_type, h.machine.location, h.machine.subscription_id)
           for h in inv.hosts}
    assert got == {"w1": ("linux", "l-default", "s-default"),
                   "w2": ("windows", "l-default", "s-default"),
                   "w3": ("linux", "r-host", "s-default"),
                   "o1": ("linux", "l-group", "s-default")}


@pytest.mark.parametrize(("text", "line", "field"), [
    ("vars: [1]\n", 1, "vars"),
    ("varz: {}\n", 1, "varz"),
    ("os_type:\n  bsd: [x]\n", 2, "os_type.bsd"),
    ("from:\n  owner: x\n", 2, "from.owner"),
    ("from:\n  os_type: 'not a path'\n", 2, "from.os_type"),
    ("vars:\n  machine: x\n", 2, "vars.machine"),
])
def test_bad_defaults_file_is_one_line(write: Write, text: str, line: int, field: str) -> None:
    path = write("defaults.yaml", text)
    with pytest.raises(InventoryError) as info:
        load_defaults(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), line, field)


def test_resume_rebuilds_the_plan_with_the_recorded_defaults_file() -> None:
    from fleet.commands.runfolder import rebuild_plan
    from fleet.engine.session import Connection

    meta = {
        "run_id": "20261129-000000-ab12",
        "input_playbook": str(EXAMPLE / "playbook.yaml"),
        "input_inventory": str(EXAMPLE / "hosts.ini"),
        "input_sources": json.dumps({"defaults": str(EXAMPLE / "fleet-defaults.yaml")}),
        "input_limit": "windows",
    }
    plan = rebuild_plan(meta, Connection())
    assert {m.name: m.os_type for w in plan.waves for m in w.machines} == {"win-app-a": "windows",
                                                                        "win-app-b": "windows"}


def test_sweep_plans_the_ansible_inventory_with_the_defaults_file() -> None:
    from fleet.commands.sweep import _plan

    sweep = _plan({"playbook": str(ROOT / "playbooks" / "baseline-linux.yaml"),
                   "inventory_path": str(EXAMPLE / "hosts.ini"),
                   "defaults": str(EXAMPLE / "fleet-defaults.yaml"), "limit": "db",
                   "extra_vars": (), "run_id": "20261129-000000-ab12", "seed": 0})
    names = {m.name for w in sweep.plan.waves for m in w.machines}
    assert names == {"db-01", "db-02"}
