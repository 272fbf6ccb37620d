"""YAML loading that remembers where every value came from, so errors can say ``file:line: field``.

``load_yaml`` returns plain Python values, except that mappings are ``YMap`` (a dict that also
knows the line of itself and of each key) and sequences are ``YList`` (a list that knows the line
of each item). Only the YAML safe subset is accepted; anything wrong becomes the caller's
``InputError`` subclass with file and line, never a PyYAML exception.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.errors import InputError
from fleet.safeio import MAX_INPUT_BYTES, read_bytes

__all__ = ["YList", "YMap", "describe", "line_of", "load_yaml", "load_yaml_text", "shown_key"]

# A document bigger than this is not an inventory or a playbook; refuse it before parsing.
MAX_YAML_BYTES = MAX_INPUT_BYTES
# Aliases may share subtrees; this caps what a "billion laughs" document can expand to.
MAX_NODES = 2_000_000
# Values that aliases add beyond the document's own: every consumer (vars merged per host,
# templates, JSON plans) walks the expanded tree, so aliases may repeat a little, not explode.
MAX_ALIAS_EXPANSION = 100_000
# Inventories and playbooks are a few levels deep; every consumer may walk them recursively.
MAX_DEPTH = 64


class YMap(dict[Any, Any]):
    """A mapping from YAML: ``line`` is where it starts, ``key_lines[key]`` where each key is."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YList(list[Any]):
    """A sequence from YAML: ``line`` is where it starts, ``item_lines[i]`` where item i is."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


def line_of(container: Any, key: Any = None) -> int | None:
    """Best-known line of ``container[key]`` (or of the container itself when key is None)."""
    if isinstance(container, YMap):
        return container.line if key is None else container.line_of(key)
    if isinstance(container, YList):
        return container.line if key is None or not isinstance(key, int) else container.line_of(key)
    return None


class _Builder:
    """Turns a composed node graph into YMap/YList/scalars. One per document (no shared state)."""

    def __init__(self, file: str, error: type[InputError]) -> None:
        self.file = file
        self.error = error
        self.scalars = SafeConstructor()
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()
        self.count = 0

    def fail(self, node: Node, message: str) -> InputError:
        return self.error(message, file=self.file, line=node.start_mark.line + 1)

    def build(self, node: Node) -> Any:
        if id(node) in self.active:
            raise self.fail(node, "an alias refers to a value that contains it (recursive YAML)")
        cached = self.done.get(id(node))
        if cached is not None:
            return cached
        if len(self.active) >= MAX_DEPTH:
            raise self.fail(node, f"nested too deeply (more than {MAX_DEPTH} levels)")
        self.active.add(id(node))
        try:
            return self._build(node)
        finally:
            self.active.discard(id(node))

    def _build(self, node: Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, "document too large (too many values after expanding aliases)")
        if isinstance(node, ScalarNode):
            try:
                value = self.scalars.construct_object(node, deep=True)
            except (ConstructorError, ValueError, TypeError, OverflowError) as exc:
                raise self.fail(node, f"bad value: {_problem(exc)}") from exc
            return value
        if isinstance(node, SequenceNode):
            if node.tag not in ("tag:yaml.org,2002:seq",):
                raise self.fail(node, f"unsupported YAML tag {node.tag!r}")
            seq = YList()
            seq.line = node.start_mark.line + 1
            seq.item_lines = []
            self.done[id(node)] = seq
            for item in node.value:
                seq.append(self.build(item))
                seq.item_lines.append(item.start_mark.line + 1)
            return seq
        if isinstance(node, MappingNode):
            if node.tag not in ("tag:yaml.org,2002:map",):
                raise self.fail(node, f"unsupported YAML tag {node.tag!r}")
            mapping = YMap()
            mapping.line = node.start_mark.line + 1
            mapping.key_lines = {}
            self.done[id(node)] = mapping
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._merge(mapping, value_node)
                    continue
                key = self.build(key_node)
                if not isinstance(key, Hashable) or isinstance(key, (YMap, YList)):
                    raise self.fail(key_node, "a mapping key must be a plain value")
                if key in mapping.key_lines and mapping.key_lines[key] != -1:
                    earlier = next(k for k in mapping.key_lines if k == key)
                    if type(earlier) is not type(key):  # 1, 1.0 and true are one key in Python
                        raise self.fail(key_node, f"keys {_yaml_key(earlier)} (line "
                                        f"{mapping.key_lines[earlier]}) and {_yaml_key(key)} "
                                        "are the same key once read; quote them to keep "
                                        "them apart")
                    raise self.fail(key_node, f"duplicate key {key!r}")
                mapping[key] = self.build(value_node)
                mapping.key_lines[key] = key_node.start_mark.line + 1
            for key, line in list(mapping.key_lines.items()):
                if line == -1:  # merged keys not overridden: point at the mapping itself
                    mapping.key_lines[key] = mapping.line
            return mapping
        raise self.fail(node, "unsupported YAML node")

    def _merge(self, mapping: YMap, value_node: Node) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source_node in sources:
            source = self.build(source_node)
            if not isinstance(source, YMap):
                raise self.fail(source_node, "'<<' must merge a mapping")
            for key, value in source.items():
                if key not in mapping:
                    mapping[key] = value
                    mapping.key_lines[key] = -1


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def shown_key(key: Any) -> str:
    """A mapping key as an error message may show it: quoted when it looks like a name, else
    only what it is and its length. A file that is not what it should be (``/etc/shadow``
    given as an inventory) has its content in its keys, and errors never echo content."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return repr(key)
    if isinstance(key, (bool, int, float)) or key is None:
        return _yaml_key(key)
    if isinstance(key, str):
        return f"<a {len(key)}-character key, not shown>"
    return f"<{describe(key)}>"


def _yaml_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return repr(key)


def _problem(exc: Exception) -> str:
    problem = getattr(exc, "problem", None)
    return " ".join(str(problem or exc).split())


# libyaml's loader keeps the same line marks at a quarter of the CPU and about half the memory
# (10,000-host inventory: 2.0 s instead of 7.8 s); the pure-Python one is the fallback.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def describe(value: Any) -> str:
    """What a YAML value is, for error messages ("a list", "a string"). Never the value itself:
    the file may not be what the user thinks (a password file given as the inventory)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return _TYPE_NAMES.get(type(value), f"a {type(value).__name__} value")


def _culprit(text: str, mark: Any) -> str:
    """Name the character a scanner error points at (libyaml's messages do not)."""
    if mark is None:
        return ""
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines) or not 0 <= mark.column < len(lines[mark.line]):
        return ""
    char = lines[mark.line][mark.column]
    if char == "\t":
        return " (a tab: indent with spaces)"
    # YAML's own punctuation only: any other character could be part of a secret.
    return f" ({char!r})" if char in _INDICATORS else ""


_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def load_yaml_text(text: str, *, file: str, error: type[InputError]) -> Any:
    """Parse one YAML document from ``text``; errors become ``error(file=..., line=...)``."""
    if len(text) > MAX_YAML_BYTES:
        raise error("file too large", file=file)
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = _problem(exc) + _culprit(text, mark)
        raise error(f"invalid YAML: {problem}", file=file, line=line) from exc
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise error(f"invalid YAML: {_problem(exc)}", file=file) from exc
    if len(nodes) > 1:
        raise error("expected one YAML document, found several", file=file,
                    line=nodes[1].start_mark.line + 1)
    if not nodes or nodes[0] is None:
        return None
    if "*" in text:  # an alias needs one; the walk is skipped for alias-free documents
        _check_expansion(nodes[0], file=file, error=error)
    try:
        return _Builder(file, error).build(nodes[0])
    except RecursionError as exc:
        raise error("document nested too deeply", file=file) from exc


def _check_expansion(root: Node, *, file: str, error: type[InputError]) -> None:
    """Refuse a document whose aliases expand it by more than MAX_ALIAS_EXPANSION values
    (a "billion laughs"). Iterative and memoised: linear in the document, whatever it says."""
    sizes: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and not children_done:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        if not children_done:
            if key in sizes:
                continue
            sizes[key] = -1  # in progress: a recursive alias, reported by the builder
            distinct += 1
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(max(sizes.get(id(child), 1), 1) for child in children)
        sizes[key] = total
        if total - distinct > MAX_ALIAS_EXPANSION or total > MAX_NODES:
            raise error("aliases expand the document too much (more than "
                        f"{MAX_ALIAS_EXPANSION} repeated values: a YAML alias bomb?)",
                        file=file, line=node.start_mark.line + 1)


def load_yaml(path: Path, *, error: type[InputError]) -> Any:
    """Read and parse ``path`` (a regular file, size-capped: ``fleet.safeio``)."""
    file = str(path)
    data = read_bytes(path, max_bytes=MAX_YAML_BYTES, error=error)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", file=file) from exc
    return load_yaml_text(text, file=file, error=error)
