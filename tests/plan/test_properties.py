"""Property tests: whatever text arrives, the loaders and the renderer raise only FleetError."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.errors import FleetError
from fleet.inventory import load_inventory
from fleet.playbook import load_playbook
from fleet.templating import Renderer, Where

# YAML-ish text: structure characters are over-represented so the parser goes deep.
YAMLISH = st.text(alphabet=st.sampled_from(list("ab: -{}[]&*!|>'\"#%@`\n\t0123456789.~?,<=%")) | st.characters(),
                  max_size=300)
KEYS = st.sampled_from(["all", "hosts", "vars", "children", "name", "script", "steps", "rollout",
                        "waves", "timeout", "parameters", "run_as", "success", "os", "h1", "x"])
LEAF = st.none() | st.booleans() | st.integers(-5, 500) | st.text(max_size=12) | st.sampled_from(
    ["10%", "1h", "{{ x }}", "linux", "all", "'; rm -rf /", "{{ secret('env:A') }}"])
TREE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(KEYS, inner, max_size=5), max_leaves=25)


def _yaml_of(tree: object) -> str:
    import yaml

    return yaml.safe_dump(tree)


def _check(loader: object, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            loader(path)  # type: ignore[operator]
        except FleetError:
            pass


@settings(max_examples=150, deadline=None)
@given(YAMLISH)
def test_inventory_loader_raises_only_fleet_errors_on_text(text: str) -> None:
    _check(load_inventory, text)


@settings(max_examples=150, deadline=None)
@given(TREE)
def test_inventory_loader_raises_only_fleet_errors_on_structures(tree: object) -> None:
    _check(load_inventory, _yaml_of(tree))


@settings(max_examples=150, deadline=None)
@given(YAMLISH)
def test_playbook_loader_raises_only_fleet_errors_on_text(text: str) -> None:
    _check(load_playbook, text)


@settings(max_examples=150, deadline=None)
@given(TREE)
def test_playbook_loader_raises_only_fleet_errors_on_structures(tree: object) -> None:
    _check(load_playbook, _yaml_of(tree))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}%#()[]|.'\"x0123456789+-*/~ abc_")), max_size=60),
       st.sampled_from(["plain", "linux", "windows"]))
def test_renderer_raises_only_template_errors(source: str, mode: str) -> None:
    renderer = Renderer()
    try:
        renderer.render(source, {"x": 3, "abc": "a'b", "a": [1, 2]}, mode=mode,
                        where=Where("pb.yaml", 1, "script", "m1"))
    except FleetError:
        pass
