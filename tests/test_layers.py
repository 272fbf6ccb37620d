"""The layer rule, enforced from the code's own imports: a module imports only from its own layer
or the layers below it (docs/readme/development.md, "Layers"; tests/test_docs.py checks that
table against LAYERS). A new upward import fails here with the file, line and the two layers
named, so the structure cannot rot one convenient import at a time.

Lazy imports inside functions count too: an upward import is a dependency whatever its place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. Packages not listed inherit nothing: every fleet module must be placed.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({
        "fleet", "fleet.types", "fleet.errors", "fleet.clock", "fleet.durations", "fleet.redact",
        "fleet.endpoints",
        "fleet.failpoints", "fleet.yamlsrc", "fleet.runlock", "fleet.termtext", "fleet.limits",
        "fleet.safeio",
    })),
    ("io", frozenset({"fleet.arm", "fleet.blobs", "fleet.journal", "fleet.journal_rows", "fleet.secrets", "fleet.report"})),
    ("models", frozenset({"fleet.inventory", "fleet.playbook", "fleet.sweep", "fleet.templating",
                          "fleet.sandbox"})),
    ("plan", frozenset({"fleet.plan"})),
    ("execution", frozenset({"fleet.engine", "fleet.production"})),
    ("commands", frozenset({"fleet.commands", "fleet.cli", "fleet.__main__"})),
)
RANK = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}
NAME = {rank: name for rank, (name, _) in enumerate(LAYERS)}

# The simulator is a sibling package: it may use fleet's bottom layer (the public value types
# and the error tree it mirrors) and the CLI plumbing it plugs into, nothing else.
SIM_ALLOWED = frozenset({"fleet", "fleet.types", "fleet.errors", "fleet.commands"})


def unit_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "fleet":
        return parts[0]
    if len(parts) == 1:
        return "fleet"
    return f"fleet.{parts[1]}"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] in ("fleet", "fleet_sim")]


def fleet_files() -> list[Path]:
    return sorted((ROOT / "fleet").rglob("*.py"))


def test_every_fleet_package_has_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in fleet_files()}
    assert units - RANK.keys() == set(), (
        "place these in LAYERS (tests/test_layers.py) and in docs/readme/development.md's Layers"
    )


@pytest.mark.parametrize("path", fleet_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_fleet_imports_only_downward(path: Path) -> None:
    here = unit_of(module_name(path))
    rank = RANK[here]
    upward = []
    for line, target in imports_of(path):
        if target.split(".")[0] == "fleet_sim":
            # Only the commands that start the simulator (demo, `fleet sim`) may use it.
            if rank < RANK["fleet.commands"]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports the simulator ({target})")
            continue
        there = unit_of(target)
        if RANK.get(there, -1) > rank:
            upward.append(f"{path.relative_to(ROOT)}:{line}: {here} ({NAME[rank]}) imports "
                          f"{target} ({NAME[RANK[there]]})")
    assert upward == []


def test_simulator_uses_only_fleets_public_bottom_layer() -> None:
    wrong = []
    for path in sorted((ROOT / "fleet_sim").rglob("*.py")):
        for line, target in imports_of(path):
            if target.split(".")[0] == "fleet" and unit_of(target) not in SIM_ALLOWED:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself can fail: an engine import placed in a base module is caught."""
    probe = tmp_path / "probe.py"
    probe.write_text("from fleet.engine.jobs import run_job\nimport fleet.types\n")
    found = imports_of(probe)
    assert [(line, unit_of(name)) for line, name in found] == [(1, "fleet.engine"), (2, "fleet.types")]
    assert RANK["fleet.engine"] > RANK["fleet.types"]
