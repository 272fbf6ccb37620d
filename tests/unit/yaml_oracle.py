"""The composed-node-tree YAML builder fleet used before it built values from parser events:
kept here only as the oracle of the differential test (same values, same lines, same errors).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.errors import InputError
from fleet.yamlsrc import (
    _LOADER,
    MAX_ALIAS_EXPANSION,
    MAX_DEPTH,
    MAX_NODES,
    MAX_YAML_BYTES,
    YList,
    YMap,
    _culprit,
    _problem,
    _yaml_key,
)

__all__ = ["load_with_node_tree"]


class _TreeBuilder:
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


def load_with_node_tree(text: str, *, file: str, error: type[InputError]) -> Any:
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
        return _TreeBuilder(file, error).build(nodes[0])
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
