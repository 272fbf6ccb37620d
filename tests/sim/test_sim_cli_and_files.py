"""`fleet sim serve` as a process, profile loading errors, fleet generation and inventory I/O."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.errors import InventoryError, SimulatorError
from fleet_sim.config import SimConfig, load_profile
from fleet_sim.fleetgen import generate_fleet
from fleet_sim.inventory_io import inventory_document, read_inventory, write_inventory
from fleet_sim.server import SimServer

PROFILE = """\
throttle:
  writes: {capacity: 50, refill_per_s: 5}
faults:
  error_rate: 0.01
  latency: {distribution: uniform, min_ms: 5, max_ms: 20}
  token_lifetime_s: 3600
machines:
  overrides:
    - match: {name: "arc-win-*", tags: {ring: "0"}}
      status: Disconnected
behaviour:
  unreachable: reject
agent:
  duration_s: 2
"""


def test_profile_loads_and_bad_fields_name_file_line_and_field(tmp_path: Path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text(PROFILE)
    profile = load_profile(good)
    assert profile.throttle.writes.capacity == 50 and profile.faults.error_rate == 0.01
    assert (
        profile.behaviour.unreachable == "reject" and profile.overrides[0].status == "Disconnected"
    )
    assert profile.agent is not None
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  error_rate: 0.5\n  stuck_rate: 7\n")
    with pytest.raises(SimulatorError, match=r"bad\.yaml:3: faults\.stuck_rate: must be a rate"):
        load_profile(bad)
    bad.write_text("behaviour:\n  unreachabel: fail\n")
    with pytest.raises(SimulatorError, match=r"bad\.yaml:2: behaviour\.unreachabel: unknown key"):
        load_profile(bad)


def test_generated_fleet_is_deterministic_unique_and_spread() -> None:
    fleet = generate_fleet(200, seed=4, subscriptions=3)
    assert fleet == generate_fleet(200, seed=4, subscriptions=3)
    assert fleet != generate_fleet(200, seed=5, subscriptions=3)
    assert len({m.name for m in fleet}) == 200
    assert len({m.subscription_id for m in fleet}) == 3
    assert {m.os_type for m in fleet} == {"linux", "windows"}
    assert len({m.location for m in fleet}) > 2 and len({m.resource_group for m in fleet}) > 3
    assert all({"env", "role", "ring"} <= set(m.tags) for m in fleet)


def test_inventory_text_is_what_the_pure_python_dumper_writes(tmp_path: Path) -> None:
    # The simulator writes with libyaml's emitter when it can: the file must not change.
    import yaml

    fleet = generate_fleet(60, seed=3, subscriptions=3)
    path = tmp_path / "inv.yaml"
    write_inventory(fleet, path)
    expected = yaml.safe_dump(inventory_document(fleet), sort_keys=False, default_flow_style=None)
    assert path.read_text(encoding="utf-8") == expected


def test_inventory_round_trip_and_ansible_shapes(tmp_path: Path) -> None:
    fleet = generate_fleet(15, seed=2)
    path = tmp_path / "inv.yaml"
    write_inventory(fleet, path)
    back = read_inventory(path)
    assert {
        (
            m.name,
            m.subscription_id,
            m.resource_group,
            m.location,
            m.os_type,
            tuple(sorted(m.tags.items())),
        )
        for m in back
    } == {
        (
            m.name,
            m.subscription_id,
            m.resource_group,
            m.location,
            m.os_type,
            tuple(sorted(m.tags.items())),
        )
        for m in fleet
    }
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        "all:\n"
        "  vars: {subscription_id: sub-a, location: westeurope}\n"
        "  children:\n"
        "    web:\n"
        "      vars: {resource_group: rg-web, os_type: windows}\n"
        "      hosts:\n"
        "        web1: {tags: {role: web}}\n"
        "        web2: {location: eastus}\n"
        "  hosts:\n"
        "    /subscriptions/sub-b/resourceGroups/rg-x/providers/Microsoft.HybridCompute/machines/idhost: {}\n"
    )
    machines = {m.name: m for m in read_inventory(nested)}
    assert (
        machines["web1"].subscription_id,
        machines["web1"].resource_group,
        machines["web1"].os_type,
    ) == ("sub-a", "rg-web", "windows")
    assert machines["web2"].location == "eastus" and machines["web1"].location == "westeurope"
    assert (machines["idhost"].subscription_id, machines["idhost"].resource_group) == (
        "sub-b",
        "rg-x",
    )
    plain = tmp_path / "plain.json"
    plain.write_text(
        json.dumps(
            [
                {
                    "name": "p1",
                    "subscription_id": "s",
                    "resource_group": "r",
                    "location": "eastus",
                    "os_type": "linux",
                    "tags": {},
                }
            ]
        )
    )
    assert [m.name for m in read_inventory(plain)] == ["p1"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("all:\n  hosts:\n    lonely: {location: eastus}\n")
    with pytest.raises(InventoryError, match=r"broken\.yaml:3.*subscription_id"):
        read_inventory(broken)


async def test_serving_an_inventory_and_refusing_remote_hosts(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    write_inventory(generate_fleet(4, seed=9), path)
    async with SimServer(SimConfig(inventory=path)) as sim:
        assert sorted(m.name for m in sim.machines) == sorted(
            m.name for m in generate_fleet(4, seed=9)
        )
    with pytest.raises(SimulatorError, match="non-loopback"):
        async with SimServer(SimConfig(host="0.0.0.0")):
            pass


def test_fleet_sim_serve_prints_its_endpoint_first_and_stops_on_sigterm(tmp_path: Path) -> None:
    inventory = tmp_path / "written.yaml"
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleet",
            "sim",
            "serve",
            "--machines",
            "7",
            "--tls",
            "--write-inventory",
            str(inventory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            assert ready["arm_endpoint"].startswith("https://127.0.0.1:")
            assert Path(ready["ca_file"]).is_file() and ready["machines"] == 7
            assert len(read_inventory(inventory)) == 7
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=120)  # hang guards only
        assert process.returncode == 0, stderr
    assert not Path(ready["ca_file"]).exists()  # its temp folder is cleaned up


def test_fleet_sim_serve_refuses_remote_host_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fleet", "sim", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "non-loopback" in result.stderr
