"""fleet.yamlsrc builds values from the parser's events (no node tree). The composed-tree
builder it replaced is the oracle: random and fixture documents give the same values, the same
lines and the same errors; each cap is checked on the new path."""

from __future__ import annotations

import datetime
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

import fleet.yamlsrc as yamlsrc
from fleet.errors import InputError, InventoryError
from fleet.yamlsrc import YList, YMap, load_yaml_text
from tests.unit.yaml_oracle import load_with_node_tree

ROOT = Path(__file__).resolve().parents[2]


def load(text: str) -> Any:
    return load_yaml_text(text, file="f.yaml", error=InventoryError)


def outcome(loader: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", loader(text, file="f.yaml", error=InventoryError)
    except InputError as exc:
        return "error", str(exc)


def shape(value: Any) -> Any:
    """The value with every line it carries, for comparing two loads exactly."""
    if isinstance(value, YMap):
        return ("map", value.line, [(type(k).__name__, k, value.key_lines[k], shape(v))
                                    for k, v in value.items()])
    if isinstance(value, YList):
        return ("seq", value.line, value.item_lines, [shape(v) for v in value])
    return (type(value).__name__, value)


def assert_same(text: str, *, messages: bool = True) -> None:
    new, old = outcome(load_yaml_text, text), outcome(load_with_node_tree, text)
    assert new[0] == old[0], (text, new, old)
    if new[0] == "ok":
        assert shape(new[1]) == shape(old[1]), text
    elif messages:
        assert new[1] == old[1], text


SCALARS: list[Any] = ["x", "", "yes", "no", "null", "~", "1", "0x1f", "1.5", ".inf", "2024-01-02",
                      "a: b", "- x", "#", "'q'", '"d"', "multi\nline\n", "  lead", "é ü", 0, -7,
                      10**20, 1.25, True, False, None, datetime.date(2024, 1, 2), "<<", "&a", "*a"]


def random_value(rng: random.Random, depth: int, shared: list[Any]) -> Any:
    roll = rng.random()
    if shared and roll < 0.1:
        return rng.choice(shared)  # the same object twice: the dumper writes an anchor and alias
    if depth > 4 or roll < 0.45:
        return rng.choice(SCALARS)
    if roll < 0.75:
        value: Any = {rng.choice(["a", "b", "name", "vars", "1", "true", "x y", "<<k"]) + str(i):
                      random_value(rng, depth + 1, shared) for i in range(rng.randint(0, 4))}
    else:
        value = [random_value(rng, depth + 1, shared) for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.3:
        shared.append(value)
    return value


@pytest.mark.parametrize("seed", range(150))
def test_random_documents_load_as_the_node_tree_did(seed: int) -> None:
    rng = random.Random(seed)
    value = random_value(rng, 0, [])
    text = yaml.safe_dump(value, default_flow_style=rng.choice([False, None, True]),
                          sort_keys=False, allow_unicode=True, width=rng.choice([20, 80]))
    assert_same(text)
    for _ in range(5):  # damaged copies: both refuse, or both read the same thing
        cut = rng.randrange(len(text) + 1)
        damaged = text[:cut] + rng.choice(["", ":", "- ", "\n  ", "&z ", "*z", "{", "]", "! "]) \
            + text[cut + rng.randint(0, 3):]
        assert_same(damaged, messages=False)


HANDWRITTEN = [
    "a: &m {x: 1, y: 2}\nb:\n  <<: *m\n  y: 3\nc: {<<: [*m, {z: 4}], x: 0}\n",
    "base: &b\n  k: v\nlist:\n  - *b\n  - *b\n  - &s scalar\n  - *s\n",
    "a: 1\na: 2\n", "1: a\n1.0: b\n", "true: a\nyes: b\n", "? [a]\n: v\n", "<<: 1\n",
    "a: !!binary aGk=\nb: !!str 1\nc: !!int '7'\nd: ! 3\ne: !!float 1\n", "x: !foo 1\n",
    "x: !!python/object:os.system 1\n", "x: !!map {a: 1}\ny: !!seq [1]\nz: !bad {a: 1}\n",
    "a: *nope\n", "a: &x 1\nb: &x 2\n", "- &r [1, *r]\n", "a: 1\n---\nb: 2\n", "", "--- \n...\n",
    "a: [1, 2\n", "a:\tb\n", "- " * 63 + "x\n", "- " * 64 + "x\n", "[" * 64 + "]" * 64,
    "[" * 65 + "]" * 65, "a: 2001-12-14t21:59:43.10-05:00\n", "{a: 1, b: [x, {c: d}]}\n",
]


@pytest.mark.parametrize("text", HANDWRITTEN)
def test_handwritten_documents_load_as_the_node_tree_did(text: str) -> None:
    assert_same(text)


def fixture_files() -> list[Path]:
    found = [p for pattern in ("tests/**/*.yaml", "tests/**/*.yml", "examples/**/*.yaml",
                               "bench/**/*.yaml", "docs/**/*.yaml") for p in ROOT.glob(pattern)]
    return sorted(p for p in found if p.is_file() and p.stat().st_size < 1 << 20)


def test_every_yaml_file_in_the_repository_loads_as_the_node_tree_did() -> None:
    files = fixture_files()
    assert len(files) > 20
    for path in files:
        assert_same(path.read_text(encoding="utf-8", errors="replace"))


# -- each cap on the event path --------------------------------------------------------------


def error_of(text: str) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load(text)
    return caught.value


def test_depth_cap_names_the_line_of_the_value_too_deep() -> None:
    ok = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 3)) + "      x\n"
    assert load(ok) == {"a": [["x"]]}
    deep = "a: 1\nb: " + "[" * 200 + "]" * 200 + "\n"
    error = error_of(deep)
    assert error.line == 2 and "nested too deeply (more than 64 levels)" in str(error)


def test_node_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_NODES", 50)
    assert len(load("".join(f"- {i}\n" for i in range(48)))) == 48
    error = error_of("".join(f"- {i}\n" for i in range(60)))
    assert error.line == 50 and "document too large" in str(error)


def test_alias_expansion_cap_stops_at_the_alias_that_crosses_it() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    error = error_of("\n".join(lines) + "\n")
    assert "alias bomb" in str(error) and error.line == 5  # a4: 10 aliases of 11,111 values
    small = load("\n".join(lines[:4]) + "\n")  # 10**3 values from 40 written: allowed
    assert len(small["a3"]) == 10 and small["a3"][0] is small["a2"]  # aliases share, not copy


def test_alias_expansion_cap_counts_merges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_ALIAS_EXPANSION", 30)  # b: 21 values
    base = "b: &b {" + ", ".join(f"k{i}: {i}" for i in range(10)) + "}\n"
    assert load(base + "m: {<<: *b}\n")["m"]["k9"] == 9
    error = error_of(base + "m: {<<: *b}\nn: {<<: *b}\n")
    assert error.line == 3 and "alias bomb" in str(error)


def test_recursive_undefined_and_duplicate_anchors() -> None:
    assert "recursive YAML" in str(error_of("a: 1\nb: &r\n  - *r\n"))
    assert error_of("a: 1\nb: &r\n  - *r\n").line == 2  # the anchored value
    assert "found undefined alias" in str(error_of("a: *nope\n"))
    error = error_of("a: &x 1\nb: &x 2\n")
    assert error.line == 2 and "invalid YAML" in str(error)


def test_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_YAML_BYTES", 10)
    assert "file too large" in str(error_of("a: 123456789\n"))


def test_tag_rules() -> None:
    assert load("a: !!binary aGk=\nb: !!str 1\n") == {"a": b"hi", "b": "1"}
    error = error_of("a: 1\nb: !!python/object:os.system x\n")
    assert error.line == 2 and "bad value" in str(error)
    error = error_of("a: 1\nb: !bad {a: 1}\n")
    assert error.line == 2 and "unsupported YAML tag '!bad'" in str(error)
    assert "unsupported YAML tag" in str(error_of("- !!set {a: null}\n"))


def test_duplicate_keys_and_keys_the_same_once_read() -> None:
    error = error_of("a: 1\nb: 2\na: 3\n")
    assert error.line == 3 and "duplicate key 'a'" in str(error)
    assert "same key once read" in str(error_of("1: a\n1.0: b\n"))
    assert load("<<: {a: 1}\na: 2\n") == {"a": 2}  # a key may override a merged one
    assert "plain value" in str(error_of("? [a]\n: v\n"))


def test_lines_of_mappings_keys_and_items() -> None:
    doc = load("top:\n  a: 1\n  list:\n    - x\n    - &m {k: v}\n    - *m\nother: {<<: *m}\n")
    assert doc.line == 1 and doc.key_lines == {"top": 1, "other": 7}
    assert doc["top"].line == 2 and doc["top"].key_lines == {"a": 2, "list": 3}
    assert doc["top"]["list"].item_lines == [4, 5, 5]  # an alias's item: its anchor's line
    assert doc["other"].line_of("k") == 7  # a merged key: the mapping that merged it


def test_one_document_only() -> None:
    error = error_of("a: 1\n---\nb: 2\n")
    assert error.line == 3 and "found several" in str(error)
    assert load("") is None and load("# only a comment\n") is None


def test_no_node_tree_is_kept_while_loading() -> None:
    """Peak memory of loading a 2,000-host inventory stays a small multiple of its text (the
    composed tree made it ~45x). Counted with tracemalloc, not timed."""
    hosts = "".join(f"    host-{i:05d}:\n      subscription_id: 9eae820a-c30d-4c61-9c1e-20b9dac1f0b9\n"
                    f"      location: westus2\n      os_type: linux\n"
                    f"      tags: {{env: prod, role: app, ring: '{i % 4}'}}\n" for i in range(2000))
    text = "all:\n  hosts:\n" + hosts
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        data = load(text)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(data["all"]["hosts"]) == 2000
    assert peak < 20 * len(text), f"{peak} bytes to load {len(text)} bytes of YAML"
