"""Pure tests: the simulator's KQL subset, keyed groups, and the sources: section parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.errors import InventoryError
from fleet.inventory.loader import read_sources
from fleet.inventory.sources.model import DEFAULT_KEYED_GROUPS, Discovered, KeyedGroup, group_names
from fleet_sim.kql import KqlError, parse_query

ROWS = [
    {"id": "/a", "name": "b-web", "location": "eastus", "tags": {"env": "prod", "Role": "web"},
     "properties": {"status": "Connected", "osType": "linux"}},
    {"id": "/b", "name": "a-db", "location": "westus2", "tags": {"env": "dev"},
     "properties": {"status": "Disconnected", "osType": "windows"}},
    {"id": "/c", "name": "c-web", "location": "EastUS", "tags": {},
     "properties": {"status": None, "osType": "linux"}},
]
COLUMNS = ("id", "name", "location", "tags", "properties")


def run(query: str) -> list[dict[str, object]]:
    return parse_query(query, COLUMNS).run(ROWS)


def names(query: str) -> list[object]:
    return [r["name"] for r in run(query)]


def test_where_operators_follow_kql_case_rules() -> None:
    assert names("resources | where location == 'eastus'") == ["b-web"]  # == is case-sensitive
    assert names("resources | where location =~ 'EASTUS'") == ["b-web", "c-web"]
    assert names("resources | where location !~ 'eastus'") == ["a-db"]
    assert names("resources | where location in~ ('EASTUS', 'nowhere')") == ["b-web", "c-web"]
    assert names("resources | where tags['env'] in ('prod', 'dev')") == ["b-web", "a-db"]
    assert names("resources | where tags.env !in ('prod')") == ["a-db", "c-web"]
    assert names("resources | where name startswith 'C-' or name endswith 'db'") == ["a-db", "c-web"]
    assert names("resources | where name contains 'WEB' and not(location == 'EastUS')") == ["b-web"]
    assert names("resources | where isnotempty(tags['env'])") == ["b-web", "a-db"]
    assert names("resources | where isnull(properties.status)") == ["c-web"]
    assert names("where tostring(properties.osType) =~ 'LINUX' | where (name has 'web')") == [
        "b-web", "c-web"]


def test_extend_project_order_take() -> None:
    out = run("resources | extend status = tostring(properties.status) | project name, status, "
              "env = tags['env'] | order by name asc")
    assert out[0] == {"name": "a-db", "status": "Disconnected", "env": "dev"}
    assert names("resources | order by name") == ["c-web", "b-web", "a-db"]  # KQL default: desc
    assert names("resources | sort by location asc, name desc | take 2") == ["c-web", "b-web"]
    assert list(run("resources | project properties.osType")[0]) == ["osType"]
    assert names("Resources | limit 1") == ["b-web"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("resourcecontainers", "table"),
        ("resources | summarize count()", "summarize"),
        ("resources | mv-expand tags", "mv-expand"),
        ("resources | where status == 'x'", "status"),  # not a column before extend
        ("resources | where name == ", "value"),
        ("resources | where name", "comparison"),
        ("resources | take 1.5", "whole number"),
        ("resources | where tolower(name) == 'x' | project-away id", "project-away"),
        ("resources | where tags[env] == 'x'", "quoted key"),
    ],
)
def test_anything_outside_the_subset_is_refused(query: str, message: str) -> None:
    with pytest.raises(KqlError, match=message):
        run(query)


def _machine(**tags: str) -> Discovered:
    return Discovered("s", "rg", "m1", "westeurope", "linux", tags=tags, status="Connected")


def test_keyed_groups_default_and_custom_and_sanitised() -> None:
    m = _machine(role="web", env="prod", owner="Jane Doe; rm -rf /", empty="")
    assert group_names(m, DEFAULT_KEYED_GROUPS) == [
        "env_prod", "owner_Jane_Doe__rm_-rf__", "role_web", "os_linux", "location_westeurope"]
    custom = (KeyedGroup("tags.ROLE", prefix="r"), KeyedGroup("status", separator="-"),
              KeyedGroup("tags.missing"), KeyedGroup("resource_group", prefix=""))
    assert group_names(m, custom) == ["r_web", "status-Connected", "rg"]
    assert group_names(_machine(**{".hidden": "x"}), (KeyedGroup("tags"),)) == ["_hidden_x"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return path


def test_sources_section_parses(tmp_path: Path) -> None:
    config = read_sources(_write(tmp_path, """
sources:
  cache_ttl: 15m
  keyed_groups:
    - {key: tags.role, prefix: role}
  arm:
    - subscription: 0000-1
      resource_groups: [rg-a, rg-b]
  resource_graph:
    - query: "resources | project id"
all:
  hosts: {}
"""))
    assert config is not None and config.cache_ttl_s == 900
    assert [s.kind for s in config.sources] == ["arm", "resource-graph"]
    assert config.sources[0].resource_groups == ("rg-a", "rg-b")
    assert config.keyed_groups == (KeyedGroup("tags.role", "role"),)
    assert config.sources[0].label == "arm:0000-1/rg-a,rg-b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources:\n  arms: []\n", r"inv.yaml:2: sources.arms: unknown key 'arms' \(did you mean 'arm'\?\)"),
        ("sources:\n  arm:\n    - resource_group: g\n", "needs subscription or subscriptions"),
        ("sources:\n  arm:\n    - subscription: 's/../x'\n", "not a valid subscription"),
        ("sources:\n  resource_graph:\n    - subscriptions: [a]\n", "needs query"),
        ("sources:\n  cache_ttl: soon\n  arm: [{subscription: a}]\n", "inv.yaml:2: sources.cache_ttl"),
        ("sources:\n  keyed_groups: [{key: name}]\n  arm: [{subscription: a}]\n", "key must be"),
        ("sources: {}\n", "lists no source"),
    ],
)
def test_sources_section_errors_name_file_line_and_field(tmp_path: Path, text: str,
                                                         message: str) -> None:
    with pytest.raises(InventoryError, match=message):
        read_sources(_write(tmp_path, text))
