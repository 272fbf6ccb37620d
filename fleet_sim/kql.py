"""The subset of KQL the simulated Azure Resource Graph understands, and nothing more.

Supported, exactly (docs/readme/inventory-sources.md lists the same):

    [resources |] op | op ...
    op   := where BOOL | extend NAME = VALUE, ... | project COL, ... (COL := NAME | NAME = VALUE)
          | order by NAME [asc|desc], ... (also ``sort by``; KQL's default is desc)
          | take N | limit N
    BOOL := BOOL or BOOL | BOOL and BOOL | not(BOOL) | (BOOL)
          | VALUE (== | != | =~ | !~ | contains | !contains | startswith | endswith | has) VALUE
          | VALUE (in | !in | in~) (LITERAL, ...)
          | isempty(VALUE) | isnotempty(VALUE) | isnull(VALUE) | isnotnull(VALUE)
    VALUE := 'string' | "string" | number | true | false | COLUMN(.field | ['key'])*
           | tostring(VALUE) | tolower(VALUE) | toupper(VALUE) | todatetime(VALUE)

Anything else (another table, ``summarize``, ``join``, ``mv-expand``, an unknown function or
column, a syntax error) raises :class:`KqlError` with a message that says what is supported: the
simulator answers it with an ARM-shaped 400, never with a result computed some other way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["KqlError", "Query", "parse_query"]

SUPPORTED_OPERATORS = "where, extend, project, order by, sort by, take, limit"
FUNCTIONS = ("tostring", "tolower", "toupper", "todatetime")
PREDICATES = ("isempty", "isnotempty", "isnull", "isnotnull")
COMPARISONS = ("==", "!=", "=~", "!~", "contains", "!contains", "startswith", "endswith", "has")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<num>\d+(?:\.\d+)?)
    | (?P<op>==|!=|=~|!~|!contains|!in\b|in~|[|,.()\[\]=])
    | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)

Row = Mapping[str, Any]
Value = Callable[[Row], Any]
Pred = Callable[[Row], bool]


class KqlError(Exception):
    """The query uses something the simulator does not support, or is not valid KQL."""


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # str | num | op | word | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise KqlError(f"unexpected character {text[pos:].lstrip()[:1]!r} at offset {pos}")
        tokens.append(_Tok(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        pos = match.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _text(value: Any) -> str:
    """KQL's tostring: null is the empty string, booleans are lower case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("==", "!=") and not isinstance(left, str) and not isinstance(right, str):
        equal = left == right and left is not None
        return equal if op == "==" else not equal
    a, b = _text(left), _text(right)
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op == "=~":
        return a.lower() == b.lower()
    if op == "!~":
        return a.lower() != b.lower()
    if op == "contains":
        return b.lower() in a.lower()
    if op == "!contains":
        return b.lower() not in a.lower()
    if op == "startswith":
        return a.lower().startswith(b.lower())
    if op == "endswith":
        return a.lower().endswith(b.lower())
    # has: a whole term (runs of letters and digits), case-insensitive
    return b.lower() in re.findall(r"[a-z0-9]+", a.lower()) or (b.lower() == a.lower())


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: apply it to rows (dicts of ARG columns) with :meth:`run`."""

    stages: tuple[Callable[[list[dict[str, Any]]], list[dict[str, Any]]], ...]

    def run(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        current = [dict(row) for row in rows]
        for stage in self.stages:
            current = stage(current)
        return current


class _Parser:
    def __init__(self, text: str, columns: Sequence[str]) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.columns = list(columns)  # known names at this point of the pipeline

    # -- token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect_op(self, op: str) -> None:
        if not self.at_op(op):
            raise KqlError(f"expected {op!r} at offset {self.tok.pos}, found {self._shown()}")
        self.take()

    def name(self) -> str:
        if self.tok.kind != "word":
            raise KqlError(f"expected a name at offset {self.tok.pos}, found {self._shown()}")
        return self.take().text

    def _shown(self) -> str:
        return "the end of the query" if self.tok.kind == "end" else repr(self.tok.text)

    # -- pipeline ----------------------------------------------------------------------------

    def query(self) -> Query:
        stages: list[Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = []
        if self.tok.kind == "word" and self.tok.text.lower() not in (
            "where", "extend", "project", "order", "sort", "take", "limit"
        ):
            table = self.take().text
            if table.lower() != "resources":
                raise KqlError(f"table {table!r} is not supported; the simulator serves only "
                               "'resources' (Arc machines)")
            if self.tok.kind != "end":
                self.expect_op("|")
        while self.tok.kind != "end":
            stages.append(self.operator())
            if self.tok.kind != "end":
                self.expect_op("|")
        return Query(tuple(stages))

    def operator(self) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
        if self.tok.kind != "word":
            raise KqlError(f"expected an operator at offset {self.tok.pos}, found {self._shown()}")
        word = self.take().text.lower()
        if word == "where":
            pred = self.boolean()
            return lambda rows: [r for r in rows if pred(r)]
        if word == "extend":
            assignments = self.assignments(require_value=True)
            return lambda rows: [_assign(r, assignments, keep=True) for r in rows]
        if word == "project":
            assignments = self.assignments(require_value=False)
            self.columns = [n for n, _ in assignments]
            return lambda rows: [_assign(r, assignments, keep=False) for r in rows]
        if word in ("order", "sort"):
            if not self.at_word("by"):
                raise KqlError(f"expected 'by' after {word!r}")
            self.take()
            keys = self.order_keys()
            return lambda rows: _sorted(rows, keys)
        if word in ("take", "limit"):
            if self.tok.kind != "num" or "." in self.tok.text:
                raise KqlError(f"{word} needs a whole number")
            count = int(self.take().text)
            return lambda rows: rows[:count]
        raise KqlError(f"operator {word!r} is not supported by the simulator (supported: "
                       f"{SUPPORTED_OPERATORS})")

    def assignments(self, *, require_value: bool) -> list[tuple[str, Value]]:
        out: list[tuple[str, Value]] = []
        while True:
            start = self.i
            name = self.name()
            if self.at_op("="):
                self.take()
                value = self.value()
            elif require_value:
                raise KqlError(f"extend needs NAME = VALUE (at {name!r})")
            else:
                self.i = start
                value = self.value()
                if self.tokens[start + 1 : self.i] and not _is_path(self.tokens[start:self.i]):
                    raise KqlError("project takes column names or NAME = VALUE")
                name = _default_name(self.tokens[start:self.i])
            out.append((name, value))
            if name not in self.columns:
                self.columns.append(name)
            if not self.at_op(","):
                return out
            self.take()

    def order_keys(self) -> list[tuple[Value, bool]]:
        keys: list[tuple[Value, bool]] = []
        while True:
            value = self.value()
            descending = True  # KQL's default for order by
            if self.at_word("asc", "desc"):
                descending = self.take().text.lower() == "desc"
            if self.at_word("nulls"):
                raise KqlError("'nulls first/last' is not supported by the simulator")
            keys.append((value, descending))
            if not self.at_op(","):
                return keys
            self.take()

    # -- expressions ---------------------------------------------------------------------------

    def boolean(self) -> Pred:
        left = self.conjunction()
        while self.at_word("or"):
            self.take()
            right = self.conjunction()
            left = _or(left, right)
        return left

    def conjunction(self) -> Pred:
        left = self.primary()
        while self.at_word("and"):
            self.take()
            right = self.primary()
            left = _and(left, right)
        return left

    def primary(self) -> Pred:
        if self.at_op("("):
            self.take()
            inner = self.boolean()
            self.expect_op(")")
            return inner
        if self.at_word("not") and self.tokens[self.i + 1].text == "(":
            self.take()
            self.take()
            inner = self.boolean()
            self.expect_op(")")
            return lambda row: not inner(row)
        if self.at_word(*PREDICATES) and self.tokens[self.i + 1].text == "(":
            which = self.take().text.lower()
            self.take()
            arg = self.value()
            self.expect_op(")")
            return _predicate(which, arg)
        left = self.value()
        if self.at_op("in", "!in", "in~") or self.at_word("in"):
            op = self.take().text.lower()
            self.expect_op("(")
            items: list[Any] = [self.literal()]
            while self.at_op(","):
                self.take()
                items.append(self.literal())
            self.expect_op(")")
            return _membership(op, left, items)
        if (self.tok.kind == "op" and self.tok.text in COMPARISONS) or self.at_word(*COMPARISONS):
            op = self.take().text.lower()
            right = self.value()
            return lambda row: _compare(op, left(row), right(row))
        raise KqlError(f"expected a comparison ({', '.join(COMPARISONS)}, in, !in, in~) at "
                       f"offset {self.tok.pos}, found {self._shown()}")

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "str":
            return _unquote(token.text)
        if token.kind == "num":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "word" and token.text in ("true", "false"):
            return token.text == "true"
        raise KqlError(f"expected a literal at offset {token.pos}, found {token.text!r}")

    def value(self) -> Value:
        token = self.tok
        if token.kind in ("str", "num") or (token.kind == "word" and token.text in ("true", "false")):
            constant = self.literal()
            return lambda row: constant
        if token.kind != "word":
            raise KqlError(f"expected a value at offset {token.pos}, found {self._shown()}")
        name = self.take().text
        if self.at_op("("):
            if name.lower() not in FUNCTIONS:
                raise KqlError(f"function {name!r} is not supported by the simulator "
                               f"(supported: {', '.join(FUNCTIONS + PREDICATES)})")
            self.take()
            arg = self.value()
            self.expect_op(")")
            return _function(name.lower(), arg)
        if name not in self.columns:
            raise KqlError(f"Failed to resolve scalar expression named {name!r}")
        path: list[str] = []
        while self.at_op(".", "["):
            if self.take().text == ".":
                path.append(self.name())
            else:
                key = self.take()
                if key.kind != "str":
                    raise KqlError("index with a quoted key, e.g. tags['env']")
                path.append(_unquote(key.text))
                self.expect_op("]")
        return _path(name, tuple(path))


def _is_path(tokens: Sequence[_Tok]) -> bool:
    return all(t.kind in ("word", "str") or t.text in (".", "[", "]") for t in tokens)


def _default_name(tokens: Sequence[_Tok]) -> str:
    """KQL names a projected path after its last part: ``properties.status`` -> ``status``."""
    parts = [_unquote(t.text) if t.kind == "str" else t.text for t in tokens if t.kind in ("word", "str")]
    return re.sub(r"[^A-Za-z0-9_]", "_", parts[-1]) if parts else "Column1"


def _path(column: str, keys: tuple[str, ...]) -> Value:
    def get(row: Row) -> Any:
        value: Any = row.get(column)
        for key in keys:
            if not isinstance(value, Mapping):
                return None
            # ARG's dynamic property access is case-sensitive, but tags are matched as stored.
            value = value.get(key)
        return value

    return get


def _function(name: str, arg: Value) -> Value:
    if name == "tolower":
        return lambda row: _text(arg(row)).lower()
    if name == "toupper":
        return lambda row: _text(arg(row)).upper()
    if name == "todatetime":
        return lambda row: arg(row) if arg(row) not in ("",) else None
    return lambda row: _text(arg(row))


def _predicate(which: str, arg: Value) -> Pred:
    if which == "isnull":
        return lambda row: arg(row) is None
    if which == "isnotnull":
        return lambda row: arg(row) is not None
    if which == "isempty":
        return lambda row: _text(arg(row)) == ""
    return lambda row: _text(arg(row)) != ""


def _membership(op: str, left: Value, items: list[Any]) -> Pred:
    texts = [_text(i) for i in items]
    if op == "in~":
        lowered = {t.lower() for t in texts}
        return lambda row: _text(left(row)).lower() in lowered
    wanted = set(texts)
    if op == "!in":
        return lambda row: _text(left(row)) not in wanted
    return lambda row: _text(left(row)) in wanted


def _and(a: Pred, b: Pred) -> Pred:
    return lambda row: a(row) and b(row)


def _or(a: Pred, b: Pred) -> Pred:
    return lambda row: a(row) or b(row)


def _assign(row: dict[str, Any], assignments: list[tuple[str, Value]], *, keep: bool) -> dict[str, Any]:
    values = {name: value(row) for name, value in assignments}
    return {**row, **values} if keep else values


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, _text(value))


def _sorted(rows: list[dict[str, Any]], keys: list[tuple[Value, bool]]) -> list[dict[str, Any]]:
    out = list(rows)
    for value, descending in reversed(keys):  # stable sorts, last key first
        out.sort(key=lambda r, v=value: _sort_key(v(r)), reverse=descending)  # type: ignore[misc]
    return out


def parse_query(text: str, columns: Sequence[str]) -> Query:
    """Parse ``text`` against rows with ``columns``; raises KqlError for anything unsupported."""
    if not text.strip():
        raise KqlError("the query is empty")
    return _Parser(text, columns).query()
