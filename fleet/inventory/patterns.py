"""Ansible's host pattern language, plus Azure tag predicates.

    web01               a host by name
    web*  db-0?  ~re    globs (fnmatch, case-sensitive) and regexes over host and group names
    webservers          a group (and every group below it)
    all  *              every host
    a:b  a,b            union
    a:&b                intersection
    a:!b                exclusion
    tag:env=prod        hosts whose Azure tag ``env`` (key case-insensitive) equals ``prod``;
                        the value may be a glob (``tag:env=prod*``); ``tag:env`` = has the tag

As in Ansible, unions are applied first, then intersections, then exclusions, whatever the
order written; the result keeps inventory order. A name that is neither a host nor a group, or
a glob that matches nothing, is an error (with a did-you-mean), and so is an empty result.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import TYPE_CHECKING

from fleet.errors import SelectionError

if TYPE_CHECKING:
    from fleet.inventory.model import Host, Inventory

__all__ = ["Term", "parse_pattern", "select_hosts"]

_TOKEN = re.compile(r"\s*([!&]?)\s*(tag:[^:,]*|[^:,]+)\s*(?:[:,]|$)")
_GLOB_CHARS = frozenset("*?[")


class Term:
    """One term of a pattern: ``op`` is ``|`` (union), ``&`` or ``!``; ``text`` the selector."""

    __slots__ = ("op", "text")

    def __init__(self, op: str, text: str) -> None:
        self.op = op
        self.text = text

    def __repr__(self) -> str:
        return f"Term({self.op}{self.text})"


def parse_pattern(pattern: str, *, field: str = "pattern") -> list[Term]:
    """Split a pattern into terms; raises SelectionError for an empty or malformed pattern."""
    text = pattern.strip()
    if not text:
        raise SelectionError("empty host pattern", field=field)
    terms: list[Term] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise SelectionError(f"cannot parse host pattern {pattern!r} at {text[pos:]!r}",
                                 field=field)
        prefix, body = match.group(1), match.group(2).strip()
        if not body:
            raise SelectionError(f"empty term in host pattern {pattern!r}", field=field)
        terms.append(Term({"": "|", "&": "&", "!": "!"}[prefix], body))
        pos = match.end()
    if text[-1] in ":,":
        raise SelectionError(f"host pattern {pattern!r} ends with a separator", field=field)
    if all(term.op != "|" for term in terms):
        # "!canary" alone means "all but canary", as in Ansible.
        terms.insert(0, Term("|", "all"))
    return terms


def _tag_matches(host: Host, predicate: str) -> bool:
    key, eq, value = predicate.partition("=")
    key = key.strip().lower()
    for tag_key, tag_value in host.tags.items():
        if tag_key.lower() == key:
            return not eq or fnmatch.fnmatchcase(tag_value, value.strip())
    return False


def _term_hosts(inventory: Inventory, term: Term, field: str, pattern: str) -> set[str]:
    text = term.text
    names = [host.name for host in inventory.hosts]
    if text in ("all", "*"):
        return set(names)
    if text.startswith("tag:"):
        predicate = text[4:]
        if not predicate.partition("=")[0].strip():
            raise SelectionError(f"tag predicate {text!r} needs a tag name (tag:NAME=VALUE)",
                                 field=field)
        return {host.name for host in inventory.hosts if _tag_matches(host, predicate)}
    if text in inventory.groups:
        return set(inventory.group_members(text))
    if text in names:
        return {text}
    matched: set[str] = set()
    if text.startswith("~"):
        try:
            regex = re.compile(text[1:])
        except re.error as exc:
            raise SelectionError(f"bad regex in host pattern {text!r}: {exc}", field=field) from exc
        matched.update(name for name in names if regex.match(name))
        for group in inventory.groups:
            if regex.match(group):
                matched.update(inventory.group_members(group))
    elif _GLOB_CHARS & set(text):
        matched.update(fnmatch.filter(names, text))
        for group in inventory.groups:
            if fnmatch.fnmatchcase(group, text):
                matched.update(inventory.group_members(group))
    else:
        close = difflib.get_close_matches(text, [*inventory.groups, *names], n=1, cutoff=0.7)
        hint = f"did you mean {close[0]!r}?" if close else None
        raise SelectionError(f"{text!r} in pattern {pattern!r} is neither a host nor a group",
                             field=field, hint=hint)
    if not matched and term.op == "|":
        raise SelectionError(f"{text!r} in pattern {pattern!r} matches no host or group",
                             field=field)
    return matched


def select_hosts(inventory: Inventory, pattern: str, *, field: str = "pattern") -> list[Host]:
    """Hosts matching ``pattern``, in inventory order. Never empty: empty is a SelectionError."""
    terms = parse_pattern(pattern, field=field)
    selected: set[str] = set()
    for term in terms:
        if term.op == "|":
            selected |= _term_hosts(inventory, term, field, pattern)
    for term in terms:
        if term.op == "&":
            selected &= _term_hosts(inventory, term, field, pattern)
    for term in terms:
        if term.op == "!":
            selected -= _term_hosts(inventory, term, field, pattern)
    hosts = [host for host in inventory.hosts if host.name in selected]
    if not hosts:
        raise SelectionError(f"pattern {pattern!r} selects no machine", field=field)
    return hosts
