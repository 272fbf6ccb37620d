"""The Jinja sandbox with bounds on what one render may cost, not only on what it may touch.

Jinja's immutable sandbox stops attribute escapes, but a template can still allocate or spin:
``'x'|center(10**9)``, ``'%0999999999d' % 1``, ``"{:>999999999}".format(1)``, ``lipsum(10**6)``,
nested ``range(99999)`` loops, a namespace string doubled 40 times, a macro that calls itself
twice per level. Playbooks come from people who may not be trusted with the runner's memory,
so every render is bounded:

- every string, list or mapping a filter, method, ``~``, ``+``, ``*`` or ``%`` produces, and
  every value stored in a ``namespace()``, holds at most ``MAX_VALUE_CHARS`` items;
- every width, count or padding argument is at most ``MAX_WIDTH`` (checked before the call);
- loop iterations plus calls in one render are at most ``MAX_STEPS``;
- the rendered text is at most ``MAX_OUTPUT_CHARS``;
- ``lipsum`` is gone (nothing in a playbook needs placeholder Latin).

Going over any bound is a ``SecurityError``, which the renderer reports as one line naming the
playbook's file, line and field.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

__all__ = [
    "MAX_OUTPUT_CHARS",
    "MAX_STEPS",
    "MAX_VALUE_CHARS",
    "MAX_WIDTH",
    "BoundedSandbox",
    "Budget",
    "render_bounded",
]

MAX_VALUE_CHARS = 4_000_000
MAX_WIDTH = 100_000
MAX_STEPS = 1_000_000
# A call (a macro, a method) costs a few loop iterations' worth of CPU.
CALL_STEPS = 5
MAX_OUTPUT_CHARS = 16 * 1024 * 1024
MAX_REPEAT = 1_000_000
MAX_EXPONENT = 1_000

BUDGET_NAME = "__fleet_budget__"
_LOOP = "__fleet_loop__"
_CONCAT = "__fleet_concat__"
# printf-style and str.format widths/precisions: "%0999d", "%.999f", "{:>999}", "{:999.9}"
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_NUMBER = re.compile(r"\{[^{}]*?(\d{6,})[^{}]*\}")


class Budget:
    """Steps left in one render (loop iterations and calls). Not reachable from a template:
    its only attribute is private, and the sandbox refuses private attributes."""

    __slots__ = ("_left",)

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self._left = steps

    def _spend(self, steps: int = 1) -> None:
        self._left -= steps
        if self._left < 0:
            raise SecurityError(f"template does too much work (more than {MAX_STEPS} loop "
                                f"iterations, a call counting {CALL_STEPS})")


def _size(value: Any) -> int:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value)
    return 0


def _check_value(value: Any) -> Any:
    if _size(value) > MAX_VALUE_CHARS:
        raise SecurityError(f"value too large (more than {MAX_VALUE_CHARS} characters or items)")
    return value


def _check_width(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
        raise SecurityError(f"argument too large ({value} > {MAX_WIDTH})")


def _check_format(fmt: str) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        for number in match.groups():
            if number == "*":
                raise SecurityError("'*' widths are not allowed in format strings")
            if number is not None and int(number) > MAX_WIDTH:
                raise SecurityError(f"format width too large (> {MAX_WIDTH})")
    if _BRACE_NUMBER.search(fmt) and any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", fmt)):
        raise SecurityError(f"format width too large (> {MAX_WIDTH})")


def _estimate_str_method(text: str, name: str, args: tuple[Any, ...]) -> int:
    """The size of ``text.name(*args)`` before it is computed (the cases that can explode)."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) \
            and isinstance(args[1], str):
        count = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + count * max(0, len(args[1]) - len(args[0]))
    if name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        return len(text) + text.count("\t") * max(0, size)
    if name == "join" and args and isinstance(args[0], (list, tuple)):
        return sum(_size(item) + len(text) for item in args[0])
    return len(text)


def _bounded_join(joiner: Callable[..., Any]) -> Callable[..., Any]:
    def join(*args: Any, **kwargs: Any) -> Any:
        items = next((a for a in args if isinstance(a, (list, tuple))), None)
        if items is not None and sum(_size(item) for item in items) > MAX_VALUE_CHARS:
            raise SecurityError(f"value too large (more than {MAX_VALUE_CHARS} characters)")
        return joiner(*args, **kwargs)

    return join


_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _filter_estimate(name: str, args: tuple[Any, ...]) -> int:
    """The size of a filter's result before it is computed, where that can explode."""
    texts = [a for a in args if isinstance(a, str)]
    if name == "replace" and len(texts) >= 3:
        return _estimate_str_method(texts[0], "replace", (texts[1], texts[2]))
    if name == "indent" and texts:
        width = next((a for a in args if isinstance(a, int) and not isinstance(a, bool)), 4)
        return len(texts[0]) + (texts[0].count("\n") + 1) * max(0, width)
    return 0


def _guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter with its width arguments and its result bounded."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name in _WIDTH_FILTERS:
            for value in (*args, *kwargs.values()):
                _check_width(value)
        if name == "format":
            for value in args[:1]:
                if isinstance(value, str):
                    _check_format(value)
        if _filter_estimate(name, args) > MAX_VALUE_CHARS:
            raise SecurityError(f"value too large (more than {MAX_VALUE_CHARS} characters)")
        return _check_value(fn(*args, **kwargs))

    for attr in ("jinja_pass_arg", "__name__", "__doc__"):
        if hasattr(fn, attr):
            setattr(guarded, attr, getattr(fn, attr))
    return guarded


class _Rewrite(NodeTransformer):
    """Every ``for`` iterates through the step budget; every ``~`` is size-checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.Name(_LOOP, "load"), [node.iter], [], None, None,
                               lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.Name(_CONCAT, "load", lineno=node.lineno), list(node.nodes), [],
                          None, None, lineno=node.lineno)


class _BoundedNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _check_value(value))


def _namespace(*args: Any, **kwargs: Any) -> Namespace:
    for value in (*args, *kwargs.values()):
        _check_value(value)
    return _BoundedNamespace(*args, **kwargs)


@pass_context
def _loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    budget = context.get(BUDGET_NAME)
    for item in iterable:
        if isinstance(budget, Budget):
            budget._spend()
        yield item


def _concat(*parts: Any) -> str:
    texts = [str(part) for part in parts]
    if sum(len(t) for t in texts) > MAX_VALUE_CHARS:
        raise SecurityError(f"value too large (more than {MAX_VALUE_CHARS} characters)")
    return "".join(texts)


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the bounds described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals.pop("lipsum", None)
        self.globals["namespace"] = _namespace
        self.globals[_LOOP] = _loop
        self.globals[_CONCAT] = _concat
        for name, fn in list(self.filters.items()):
            self.filters[name] = _guard_filter(name, _bounded_join(fn) if name == "join" else fn)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        rewritten = _Rewrite().visit(tree)
        assert isinstance(rewritten, nodes.Template)
        rewritten.set_environment(self)
        for node in rewritten.find_all(nodes.Node):
            if getattr(node, "lineno", None) is None:
                node.lineno = 1
        return rewritten

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                    if len(seq) * count > MAX_REPEAT:
                        raise SecurityError("repetition too large")
            return operator.mul(left, right)
        if operator_name == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError("exponent too large")
            return operator.pow(left, right)
        if operator_name == "%" and isinstance(left, str):
            _check_format(left)
            return _check_value(operator.mod(left, right))
        if operator_name == "+" and _size(left) + _size(right) > MAX_VALUE_CHARS:
            raise SecurityError(f"value too large (more than {MAX_VALUE_CHARS} characters)")
        return super().call_binop(context, operator_name, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        budget = __context.get(BUDGET_NAME)
        if isinstance(budget, Budget):
            budget._spend(CALL_STEPS)
        # The sandbox hands out str.format wrapped (``__wrapped__`` is the bound method).
        bound = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(bound, "__self__", None)
        method = getattr(bound, "__name__", "")
        if isinstance(owner, str):
            if method in _WIDTH_METHODS:
                for value in (*args, *kwargs.values()):
                    _check_width(value)
            if method in ("format", "format_map"):
                _check_format(owner)
            if _estimate_str_method(owner, method, args) > MAX_VALUE_CHARS:
                raise SecurityError(f"value too large (more than {MAX_VALUE_CHARS} characters)")
        return _check_value(super().call(__context, __obj, *args, **kwargs))


def render_bounded(template: Any, context: dict[str, Any]) -> str:
    """Render with a fresh step budget and the output cap (checked as the text is produced)."""
    parts: list[str] = []
    total = 0
    for chunk in template.generate({**context, BUDGET_NAME: Budget()}):
        total += len(chunk)
        if total > MAX_OUTPUT_CHARS:
            raise SecurityError(f"rendered text too large (more than {MAX_OUTPUT_CHARS} "
                                "characters)")
        parts.append(chunk)
    return "".join(parts)
