"""Resolve a ``SecretRef`` to its value, late (at dispatch), and never print it.

Schemes: ``env:NAME`` (an environment variable), ``file:PATH`` (a file's text, one trailing
newline removed; relative paths were made absolute against the playbook at plan time) and
``literal`` (an inline protected value written in the playbook).

Extension point (Key Vault and friends): pass ``resolvers={"keyvault": my_resolver, ...}``.
A resolver is ``Callable[[str], str]`` taking the reference after ``scheme:`` and returning the
value, raising ``SecretError`` (without the value) when it cannot. ``keyvault`` is accepted by
``secret()`` at plan time, but fleet ships no resolver for it: the caller supplies one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from fleet.errors import SecretError
from fleet.safeio import read_bytes
from fleet.types import SecretRef

__all__ = ["Resolver", "default_resolvers", "resolve_secret"]

Resolver = Callable[[str], str]
# A secret bigger than this is a mistake (a whole file picked by accident), not a password.
MAX_SECRET_BYTES = 64 * 1024


def _from_env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretError(f"environment variable {name} is not set", field=f"secret env:{name}")
    return value


def _from_file(path: str) -> str:
    where = f"secret file:{path}"
    data = read_bytes(path, max_bytes=MAX_SECRET_BYTES, error=SecretError, field=where,
                      what="secret file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretError("secret file is not UTF-8 text", field=where) from exc
    return text.removesuffix("\n").removesuffix("\r")


def _literal(value: str) -> str:
    return value


def default_resolvers() -> dict[str, Resolver]:
    """The schemes fleet resolves itself. Copy and extend to add your own."""
    return {"env": _from_env, "file": _from_file, "literal": _literal}


def resolve_secret(ref: SecretRef, resolvers: Mapping[str, Resolver] | None = None) -> str:
    """The secret's value. Raises SecretError, whose message never contains the value."""
    table = default_resolvers() if resolvers is None else resolvers
    resolver = table.get(ref.scheme)
    if resolver is None:
        raise SecretError(f"no resolver for secret scheme {ref.scheme!r}",
                          field=f"secret {ref.scheme}:",
                          hint="pass resolvers={...} to resolve_secret")
    return resolver(ref.ref)
