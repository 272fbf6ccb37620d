"""YAML loading that remembers where every value came from, so errors can say ``file:line: field``.

``load_yaml`` returns plain Python values, except that mappings are ``YMap`` (a dict that also
knows the line of itself and of each key) and sequences are ``YList`` (a list that knows the line
of each item). Only the YAML safe subset is accepted; anything wrong becomes the caller's
``InputError`` subclass with file and line, never a PyYAML exception.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode

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

    __slots__ = ("key_lines", "line")
    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YList(list[Any]):
    """A sequence from YAML: ``line`` is where it starts, ``item_lines[i]`` where item i is."""

    __slots__ = ("item_lines", "line")
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


class _Frame:
    """An open mapping or sequence while its events arrive."""

    __slots__ = ("anchor", "expanded_at", "key", "key_line", "merge", "value", "want_key")

    def __init__(self, value: YMap | YList, anchor: str | None, expanded_at: int) -> None:
        self.value = value
        self.anchor = anchor
        self.expanded_at = expanded_at  # the expanded-value count when this collection opened
        self.want_key = isinstance(value, YMap)
        self.key: Any = None
        self.key_line = 0
        self.merge = False


class _Merge:
    """The ``<<`` key of a mapping (its value is merged, not stored)."""


_MERGE = _Merge()


class _Builder:
    """Builds YMap/YList/scalars straight from the parser's events: no node tree is kept (a
    10,000-host inventory's tree was ~180 MB). One per document (no shared state).

    Guarantees, as the composed-tree builder had them: the safe tags only, depth <= MAX_DEPTH,
    at most MAX_NODES values, aliases adding at most MAX_ALIAS_EXPANSION values (counted as they
    come, so a "billion laughs" stops at the alias that crosses the line), no recursive alias,
    duplicate and same-once-read keys refused, ``<<`` merges, and the line of every mapping,
    key, sequence and item (an alias's item line is its anchor's, as before)."""

    def __init__(self, file: str, error: type[InputError]) -> None:
        self.file = file
        self.error = error
        self.scalars = SafeConstructor()
        self.stack: list[_Frame] = []
        # anchor -> (value, line, expanded size); None while the anchored collection is open
        self.anchors: dict[str, tuple[Any, int, int] | None] = {}
        self.anchor_marks: dict[str, Any] = {}
        self.count = 0  # values in the document as written
        self.texts: dict[str, str] = {}
        self.expanded = 0  # values once aliases are expanded

    def fail(self, line: int, message: str) -> InputError:
        return self.error(message, file=self.file, line=line)

    def build(self, events: Iterator[Any]) -> Any:
        root: list[Any] = []
        documents = 0
        for event in events:
            kind = type(event)
            if kind is ScalarEvent:
                self.node(event)
                self.add(self.scalar(event), event.start_mark.line + 1, event.anchor, root)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self.open(event, kind is MappingStartEvent)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self.close(root)
            elif kind is AliasEvent:
                self.alias(event, root)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    line = next(events).start_mark.line + 1
                    raise self.fail(line, "expected one YAML document, found several")
        return root[0] if root else None

    def node(self, event: Any) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(event.start_mark.line + 1,
                            f"nested too deeply (more than {MAX_DEPTH} levels)")
        self.count += 1
        self.expanded += 1
        if self.count > MAX_NODES:
            raise self.fail(event.start_mark.line + 1,
                            "document too large (too many values after expanding aliases)")
        anchor = event.anchor
        if anchor is not None:
            if anchor in self.anchor_marks:
                raise ComposerError("found duplicate anchor; first occurrence",
                                    self.anchor_marks[anchor], "second occurrence",
                                    event.start_mark)
            self.anchor_marks[anchor] = event.start_mark

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        value = event.value
        if tag is None or tag == "!":
            tag = _plain_tag(value) if event.implicit[0] else _STR
        if tag == _STR:
            # One object per distinct short text: an inventory repeats its keys and most of
            # its values (subscription, location, tags) on every host.
            return self.texts.setdefault(value, value) if len(value) <= 64 else value
        if tag == _MERGE_TAG and self.stack and self.stack[-1].want_key:
            return _MERGE
        node = ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        try:
            return self.scalars.construct_object(node, deep=True)
        except (ConstructorError, ValueError, TypeError, OverflowError) as exc:
            raise self.fail(event.start_mark.line + 1, f"bad value: {_problem(exc)}") from exc
        finally:
            self.scalars.constructed_objects.clear()

    def open(self, event: Any, mapping: bool) -> None:
        line = event.start_mark.line + 1
        self.node(event)
        default = _MAP if mapping else _SEQ
        if event.tag not in (None, "!", default):
            raise self.fail(line, f"unsupported YAML tag {event.tag!r}")
        value: YMap | YList
        if mapping:
            value = YMap()
            value.key_lines = {}
        else:
            value = YList()
            value.item_lines = []
        value.line = line
        if event.anchor is not None:
            self.anchors[event.anchor] = None
        self.stack.append(_Frame(value, event.anchor, self.expanded - 1))

    def close(self, root: list[Any]) -> None:
        frame = self.stack.pop()
        value = frame.value
        if isinstance(value, YMap):
            for key, line in value.key_lines.items():
                if line == -1:  # merged keys not overridden: point at the mapping itself
                    value.key_lines[key] = value.line
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (value, value.line, self.expanded - frame.expanded_at)
        self.add(value, value.line, None, root)

    def alias(self, event: Any, root: list[Any]) -> None:
        name = event.anchor
        if name not in self.anchors:
            raise ComposerError(None, None, "found undefined alias", event.start_mark)
        target = self.anchors[name]
        if target is None:
            line = self.anchor_marks[name].line + 1
            raise self.fail(line, "an alias refers to a value that contains it (recursive YAML)")
        value, line, size = target
        self.expanded += size
        if self.expanded - self.count > MAX_ALIAS_EXPANSION or self.expanded > MAX_NODES:
            raise self.fail(event.start_mark.line + 1, "aliases expand the document too much "
                            f"(more than {MAX_ALIAS_EXPANSION} repeated values: a YAML alias "
                            "bomb?)")
        self.add(value, line, None, root)

    def add(self, value: Any, line: int, anchor: str | None, root: list[Any]) -> None:
        if anchor is not None:  # an anchored scalar (collections register when they close)
            self.anchors[anchor] = (value, line, 1)
        if not self.stack:
            root.append(value)
            return
        frame = self.stack[-1]
        parent = frame.value
        if isinstance(parent, YList):
            parent.append(value)
            parent.item_lines.append(line)
        elif frame.want_key:
            self.key(frame, parent, value, line)
        elif frame.merge:
            self.merge(parent, value, line)
            frame.merge = False
            frame.want_key = True
        else:
            parent[frame.key] = value
            parent.key_lines[frame.key] = frame.key_line
            frame.want_key = True

    def key(self, frame: _Frame, mapping: YMap, key: Any, line: int) -> None:
        frame.want_key = False
        if key is _MERGE:
            frame.merge = True
            return
        if not isinstance(key, Hashable) or isinstance(key, (YMap, YList)):
            raise self.fail(line, "a mapping key must be a plain value")
        if key in mapping.key_lines and mapping.key_lines[key] != -1:
            earlier = next(k for k in mapping.key_lines if k == key)
            if type(earlier) is not type(key):  # 1, 1.0 and true are one key in Python
                raise self.fail(line, f"keys {_yaml_key(earlier)} (line "
                                f"{mapping.key_lines[earlier]}) and {_yaml_key(key)} "
                                "are the same key once read; quote them to keep them apart")
            raise self.fail(line, f"duplicate key {key!r}")
        frame.key = key
        frame.key_line = line

    def merge(self, mapping: YMap, value: Any, line: int) -> None:
        sources = [(value, line)]
        if isinstance(value, YList):
            sources = list(zip(value, value.item_lines, strict=True))
        for source, source_line in sources:
            if not isinstance(source, YMap):
                raise self.fail(source_line, "'<<' must merge a mapping")
            for key, item in source.items():
                if key not in mapping:
                    mapping[key] = item
                    mapping.key_lines[key] = -1


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _plain_tag(value: str) -> str:
    """The tag YAML's implicit resolvers give a plain scalar (the composer's rule, inlined:
    it ran once per scalar)."""
    resolvers = _RESOLVERS.get(value[0] if value else "", ())
    for tag, regexp in (*resolvers, *_WILDCARD):
        if regexp.match(value):
            return str(tag)
    return _STR


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
_RESOLVERS: dict[Any, list[tuple[str, Any]]] = _LOADER.yaml_implicit_resolvers
_WILDCARD = tuple(_RESOLVERS.get(None, ()))


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
        return _Builder(file, error).build(yaml.parse(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = _problem(exc) + _culprit(text, mark)
        raise error(f"invalid YAML: {problem}", file=file, line=line) from exc
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise error(f"invalid YAML: {_problem(exc)}", file=file) from exc


def load_yaml(path: Path, *, error: type[InputError]) -> Any:
    """Read and parse ``path`` (a regular file, size-capped: ``fleet.safeio``)."""
    file = str(path)
    data = read_bytes(path, max_bytes=MAX_YAML_BYTES, error=error)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", file=file) from exc
    return load_yaml_text(text, file=file, error=error)
