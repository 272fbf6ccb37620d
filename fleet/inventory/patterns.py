"""Ansible's host pattern language, plus Azure tag predicates.

    web01               a host by name
    web*  db-0?  ~re    globs (fnmatch, case-sensitive) and regexes over host and group names
    webservers          a group (and every group below it)
    all  *              every host
    a,b  a:b            union
    a:&b                intersection
    a:!b                exclusion
    web[0]  web[-1]     subscripts: one host of what ``web`` matches, or a slice ``web[0:9]``
    web[2:]             (inclusive, as in Ansible)
    tag:env=prod        hosts whose Azure tag ``env`` (key case-insensitive) equals ``prod``;
                        the value may be a glob (``tag:env=prod*``); ``tag:env`` = has the tag

Splitting is Ansible's (``split_host_pattern``): a pattern with a comma is split on commas
only (``web,db:!canary`` is ``web`` and ``db:!canary``); without one, on colons and spaces,
keeping ``[...]`` whole. As in Ansible, unions are applied first, then intersections, then
exclusions, whatever the order written.

Stricter than Ansible on purpose: a name that is neither a host nor a group, a glob or regex
that matches no host or group name, or a pattern whose result is empty is an error (Ansible
warns and runs on fewer or no hosts). A glob that matches only empty groups is not an error by
itself. The result keeps inventory order (Ansible's follows the pattern).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import TYPE_CHECKING

from fleet.errors import SelectionError

if TYPE_CHECKING:
    from fleet.inventory.model import Host, Inventory

__all__ = ["Term", "parse_pattern", "select_hosts", "split_pattern"]

# Ansible's colon/space split, with fleet's tag: predicates kept whole.
_COLON_TERMS = re.compile(r"[!&]?tag:(?:[^\s:\[\]]|\[[^\]]*\])*|(?:[^\s:\[\]]|\[[^\]]*\])+")
# A host with a port and nothing else (Ansible's parse_address succeeds: one pattern).
_HOST_PORT = re.compile(r"^[A-Za-z0-9._-]+:[0-9]+$")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_GLOB_CHARS = frozenset("*?[")
_HOST_GLOB_CHARS = frozenset(".?*[")  # Ansible also matches host names when these appear


class Term:
    """One term of a pattern: ``op`` is ``|`` (union), ``&`` or ``!``; ``text`` the selector
    (without its subscript); ``subscript`` (start, end) or None."""

    __slots__ = ("op", "subscript", "text")

    def __init__(self, op: str, text: str, subscript: tuple[int, int | None] | None = None
                 ) -> None:
        self.op = op
        self.text = text
        self.subscript = subscript

    def __repr__(self) -> str:
        return f"Term({self.op}{self.text}{self.subscript or ''})"


def split_pattern(pattern: str) -> list[str]:
    """Ansible's ``split_host_pattern``: commas if there is one, else colons and spaces."""
    if "," in pattern:
        parts = pattern.split(",")
    elif _HOST_PORT.match(pattern.strip()):
        parts = [pattern]
    else:
        parts = _COLON_TERMS.findall(pattern)
    return [part.strip() for part in parts if part.strip()]


def _subscript(text: str) -> tuple[str, tuple[int, int | None] | None]:
    if text.startswith("~"):
        return text, None
    match = _SUBSCRIPT.match(text)
    if match is None:
        return text, None
    base, index, start, _sep, end = match.groups()
    if index is not None:
        return base, (int(index), None)
    return base, (int(start), int(end) if end else -1)


def parse_pattern(pattern: str, *, field: str = "pattern") -> list[Term]:
    """Split a pattern into terms; raises SelectionError for an empty or malformed pattern."""
    text = pattern.strip()
    if not text:
        raise SelectionError("empty host pattern", field=field)
    if text[-1] in ":,":
        raise SelectionError(f"host pattern {pattern!r} ends with a separator", field=field)
    if text[0] in ":,":
        raise SelectionError(f"host pattern {pattern!r} starts with a separator", field=field)
    if "," in text and any(not part.strip() for part in text.split(",")):
        raise SelectionError(f"empty term in host pattern {pattern!r}", field=field)
    if "," not in text and "::" in text:
        raise SelectionError(f"empty term in host pattern {pattern!r}", field=field)
    terms: list[Term] = []
    for part in split_pattern(text):
        op = {"&": "&", "!": "!"}.get(part[0], "|")
        body = part[1:].strip() if op != "|" else part
        if not body:
            raise SelectionError(f"empty term in host pattern {pattern!r}", field=field)
        if body.startswith("tag:"):
            terms.append(Term(op, body))
            continue
        base, subscript = _subscript(body)
        terms.append(Term(op, base, subscript))
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


def _tag_case_hint(inventory: Inventory, terms: list[Term]) -> str | None:
    """A tag predicate that would select machines if tag values were compared ignoring case."""
    for term in terms:
        if term.op == "!" or not term.text.startswith("tag:") or "=" not in term.text:
            continue
        key, _eq, value = term.text[4:].partition("=")
        wanted = value.strip().lower()
        for host in inventory.hosts:
            for tag_key, tag_value in host.tags.items():
                if tag_key.lower() == key.strip().lower() and fnmatch.fnmatchcase(tag_value.lower(), wanted):
                    return (f"tag values are case-sensitive: {host.name} has {tag_key}={tag_value!r}; "
                            f"write tag:{key.strip()}={tag_value}")
    return None


def _matches(inventory: Inventory, term: Term, field: str, pattern: str) -> list[str]:
    """Host names ``term`` matches, in Ansible's enumeration order (duplicates kept: a
    subscript counts them as Ansible does)."""
    text = term.text
    names = [host.name for host in inventory.hosts]
    if text.startswith("tag:"):
        predicate = text[4:]
        if not predicate.partition("=")[0].strip():
            raise SelectionError(f"tag predicate {text!r} needs a tag name (tag:NAME=VALUE)",
                                 field=field)
        return [host.name for host in inventory.hosts if _tag_matches(host, predicate)]
    if text in names and term.subscript is None:
        return [text]
    if text.startswith("~"):
        try:
            regex = re.compile(text[1:])
        except re.error as exc:
            raise SelectionError(f"bad regex in host pattern {text!r}: {exc}", field=field) from exc
        match = regex.match
    else:
        match = re.compile(fnmatch.translate(text)).match
    groups = [group for group in inventory.groups if match(group)]
    found: list[str] = []
    for group in groups:
        found.extend(inventory.group_hosts_in_order(group))
    hosts: list[str] = []
    if not groups or text.startswith("~") or _HOST_GLOB_CHARS & set(text):
        hosts = [name for name in names if match(name)]
        found.extend(hosts)
    if not groups and not hosts:
        if text.startswith("~") or _GLOB_CHARS & set(text):
            if term.op != "|":
                return []  # excluding or intersecting with nothing is allowed
            raise SelectionError(f"{text!r} in pattern {pattern!r} matches no host or group",
                                 field=field)
        close = difflib.get_close_matches(text, [*inventory.groups, *names], n=1, cutoff=0.7)
        hint = f"did you mean {close[0]!r}?" if close else None
        if ":" in text and "," in pattern:
            hint = ("a pattern with a comma is split on commas only, as in Ansible: write "
                    "a,b,!c or a:b:!c")
        elif "&" in text or "!" in text[1:]:
            fixed = text[0] + re.sub(r"(?<!:)([&!])", r":\1", text[1:])
            hint = (f"'&' and '!' follow a ':' (a:&b intersects, a:!b excludes): did you mean "
                    f"{fixed!r}?")
        raise SelectionError(f"{text!r} in pattern {pattern!r} is neither a host nor a group",
                             field=field, hint=hint)
    return found


def _apply_subscript(found: list[str], term: Term, field: str, pattern: str) -> list[str]:
    if term.subscript is None or not found:
        return found
    start, end = term.subscript
    try:
        if end:  # Ansible's test: [2:0] is [2], as ansible-core does it
            return found[start:(len(found) - 1 if end == -1 else end) + 1]
        return [found[start]]
    except IndexError:
        raise SelectionError(f"subscript of {term.text!r} in pattern {pattern!r} is out of "
                             f"range: it matches {len(set(found))} hosts", field=field) from None


def select_hosts(inventory: Inventory, pattern: str, *, field: str = "pattern") -> list[Host]:
    """Hosts matching ``pattern``, in inventory order. Never empty: empty is a SelectionError."""
    terms = parse_pattern(pattern, field=field)
    selected: set[str] = set()
    for term in terms:
        if term.op == "|":
            selected.update(_apply_subscript(_matches(inventory, term, field, pattern), term,
                                             field, pattern))
    for term in terms:
        if term.op == "&":
            selected &= set(_apply_subscript(_matches(inventory, term, field, pattern), term,
                                             field, pattern))
    for term in terms:
        if term.op == "!":
            selected -= set(_apply_subscript(_matches(inventory, term, field, pattern), term,
                                             field, pattern))
    hosts = [host for host in inventory.hosts if host.name in selected]
    if not hosts:
        raise SelectionError(f"pattern {pattern!r} selects no machine", field=field,
                             hint=_tag_case_hint(inventory, terms))
    return hosts
