"""Sandboxed Jinja for playbooks: StrictUndefined, shell quoting, and ``secret()`` tracking.

Three render modes share one set of filters:

- ``plain``   every playbook string except script text (parameters, run_as.user, ...)
- ``linux``   script text for a Linux machine: every ``{{ ... }}`` is quoted for POSIX sh
- ``windows`` script text for a Windows machine: every ``{{ ... }}`` is quoted for PowerShell

In script text a value is pasted as one literal word unless it is already ``Raw`` (from the
``raw``, ``shquote`` or ``psquote`` filters). Inventory values and tags are untrusted, so this
default is what keeps ``'; rm -rf / #`` or ``$(...)`` in a tag from changing the command.

``secret("env:NAME")`` is recorded per render (``Rendered.secrets``); the plan builder decides
whether the field may hold a secret. No module-level state: a ``Renderer`` owns its caches.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError

from fleet.errors import TemplateError
from fleet.sandbox import BoundedSandbox, render_bounded
from fleet.types import SecretRef

__all__ = [
    "MODES",
    "SECRET_SCHEMES",
    "Raw",
    "Rendered",
    "Renderer",
    "Where",
    "evaluate_when",
    "psquote",
    "shquote",
    "to_text",
    "validate_when",
]

MODES = ("plain", "linux", "windows")
SECRET_SCHEMES = ("env", "file", "keyvault")
# What the engine (fleet.engine.rollout) gives a when: expression: results only.
WHEN_NAMES = frozenset({"steps", "previous"})
# PowerShell treats these as single quotes too; each must be doubled inside '...'.
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


class Raw(str):
    """Text already fit for the target shell: script interpolation pastes it unchanged."""

    __slots__ = ()


def to_text(value: Any) -> str:
    """How a value becomes text: booleans as ``true``/``false``, None as empty, else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _check_text(text: str) -> str:
    if "\x00" in text:
        raise SecurityError("a value contains a NUL character, which no shell can hold")
    return text


def shquote(value: Any) -> Raw:
    """One POSIX sh word for ``value`` (a list: its items, each quoted, space-separated)."""
    if isinstance(value, (list, tuple)):
        return Raw(" ".join(shquote(item) for item in value))
    text = _check_text(to_text(value))
    return Raw(shlex.quote(text))


def psquote(value: Any) -> Raw:
    """A PowerShell single-quoted literal (a list: a comma-separated array of literals)."""
    if isinstance(value, (list, tuple)):
        return Raw(",".join(psquote(item) for item in value))
    text = _check_text(to_text(value))
    for quote in _PS_SINGLE_QUOTES:
        text = text.replace(quote, quote * 2)
    return Raw(f"'{text}'")


def _raw(value: Any) -> Raw:
    return Raw(to_text(value))


@dataclass(frozen=True, slots=True)
class Where:
    """Where a template came from, for error messages."""

    file: str
    line: int | None
    field: str
    machine: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    secrets: tuple[SecretRef, ...] = ()
    placeholders: tuple[str, ...] = field(default=())


class _Sandbox(BoundedSandbox):
    """The immutable sandbox with bounds on time and memory (``fleet.sandbox``)."""


def _make_env(finalize: Callable[[Any], Any] | None) -> _Sandbox:
    env = _Sandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        # As in Ansible: a line holding only a {% block tag %} leaves no blank line behind.
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters["shquote"] = shquote
    env.filters["psquote"] = psquote
    env.filters["raw"] = _raw
    return env


def _finalizer(quote: Callable[[Any], Raw]) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        return value if isinstance(value, Raw) else quote(value)

    return finalize


class _SecretCollector:
    """The ``secret()`` callable for one render: records each reference, returns a token."""

    def __init__(self, base_dir: str) -> None:
        self.refs: list[SecretRef] = []
        self.tokens: list[str] = []
        self.base_dir = base_dir

    def __call__(self, reference: Any) -> str:
        if not isinstance(reference, str) or ":" not in reference:
            raise SecurityError(
                f"secret() takes 'SCHEME:REFERENCE' with SCHEME one of {', '.join(SECRET_SCHEMES)}"
            )
        scheme, _, ref = reference.partition(":")
        if scheme not in SECRET_SCHEMES or not ref:
            raise SecurityError(
                f"secret() takes 'SCHEME:REFERENCE' with SCHEME one of {', '.join(SECRET_SCHEMES)}"
            )
        if scheme == "file" and not ref.startswith("/"):
            # Relative secret files are relative to the playbook, like script_file.
            ref = f"{self.base_dir.rstrip('/')}/{ref}"
        self.refs.append(SecretRef(scheme, ref))
        token = f"@@fleet-secret-{len(self.refs)}@@"
        self.tokens.append(token)
        return token


class Renderer:
    """Compiles each distinct template once and renders it per machine."""

    def __init__(self, *, base_dir: str = ".") -> None:
        self.base_dir = base_dir
        self._envs = {
            "plain": _make_env(None),
            "linux": _make_env(_finalizer(shquote)),
            "windows": _make_env(_finalizer(psquote)),
        }
        self._compiled: dict[tuple[str, str], jinja2.Template] = {}

    def compile(self, source: str, mode: str, where: Where) -> jinja2.Template:
        key = (mode, source)
        template = self._compiled.get(key)
        if template is None:
            try:
                template = self._envs[mode].from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise _error(f"template syntax error: {exc.message} (template line "
                             f"{exc.lineno})", where) from exc
            except (jinja2.TemplateError, RecursionError, ValueError, TypeError) as exc:
                raise _error(f"template error: {exc}", where) from exc
            self._compiled[key] = template
        return template

    def render(self, source: str, context: Mapping[str, Any], *, mode: str = "plain",
               where: Where) -> Rendered:
        """Render ``source``; any failure is a TemplateError naming file, line, field, machine."""
        template = self.compile(source, mode, where)
        collector = _SecretCollector(self.base_dir)
        try:
            text = render_bounded(template, {**context, "secret": collector})
        except jinja2.UndefinedError as exc:
            raise _error(f"undefined: {exc.message}", where) from exc
        except SecurityError as exc:
            raise _error(f"not allowed: {exc}", where) from exc
        except jinja2.TemplateError as exc:
            raise _error(f"template error: {exc.message or exc}", where) from exc
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError,
                RecursionError, MemoryError) as exc:
            raise _error(f"template failed: {type(exc).__name__}: {exc}", where) from exc
        return Rendered(text, tuple(collector.refs), tuple(collector.tokens))


def _error(message: str, where: Where) -> TemplateError:
    if where.machine:
        message = f"{message} (machine {where.machine})"
    return TemplateError(" ".join(message.split()), file=where.file, line=where.line,
                         field=where.field)


def _when_env() -> _Sandbox:
    return _make_env(None)


def validate_when(expression: str, where: Where) -> None:
    """Check a ``when:`` expression's syntax and that it only uses ``steps`` and ``previous``."""
    env = _when_env()
    try:
        parsed = env.parse(f"{{{{ ({expression}) }}}}")
    except jinja2.TemplateSyntaxError as exc:
        raise _error(f"bad when expression: {exc.message}", where) from exc
    names = {node.name for node in parsed.find_all(nodes.Name) if node.ctx == "load"}
    unknown = sorted(names - WHEN_NAMES - set(env.globals))
    if unknown:
        raise _error(f"when may only use {', '.join(sorted(WHEN_NAMES))} (results of earlier "
                     f"steps on this machine), not {', '.join(unknown)}", where)


def evaluate_when(expression: str, *, steps: Mapping[str, Mapping[str, Any]]) -> bool:
    """Evaluate a step's ``when:`` the way the engine does: ``steps[name]`` is that step's
    result on this machine (``state``, ``succeeded``, ``failed``, ``skipped``) and ``previous``
    the last one (or None). Raises TemplateError (e.g. a step that did not run is undefined)."""
    where = Where(file="<when>", line=None, field="when")
    previous = next(reversed(list(steps.values())), None) if steps else None
    env = _when_env()
    try:
        compiled = env.compile_expression(expression, undefined_to_none=False)
        return bool(compiled(steps=steps, previous=previous))
    except jinja2.UndefinedError as exc:
        raise _error(f"undefined: {exc.message}", where) from exc
    except jinja2.TemplateError as exc:
        raise _error(f"when failed: {exc}", where) from exc
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise _error(f"when failed: {type(exc).__name__}: {exc}", where) from exc
