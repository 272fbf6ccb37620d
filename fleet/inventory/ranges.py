"""Ansible host ranges: ``web-[01:20]``, ``db-[a:c]``, ``node[0:10:2]-[1:2]`` (ansible-core's
``expand_hostname_range``): ``[begin:end]`` or ``[begin:end:step]``, inclusive; a begin with a
leading zero pads every number to its width (begin and end must then be as wide); letters range
over ``a-zA-Z`` order. Several ranges in one name multiply.

Bounded: one pattern expands to at most :data:`MAX_EXPANSION` names.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from fleet.errors import InventoryError

__all__ = ["MAX_EXPANSION", "expand_host_pattern", "split_port"]

MAX_EXPANSION = 100_000
_PORT = re.compile(r"^([^:\[\]]+|[^:]*\[[^\]]*\][^:]*):([0-9]+)$")


def split_port(text: str) -> tuple[str, int | None]:
    """``web1:2222`` -> (``web1``, 2222), as Ansible's parse_address does for inventory hosts."""
    match = _PORT.match(text)
    if match is None:
        return text, None
    return match.group(1), int(match.group(2))


def expand_host_pattern(text: str, *, error: Callable[[str], InventoryError]) -> list[str]:
    """The host names ``text`` stands for (itself when it has no range)."""
    out: list[str] = []
    _expand(text, out, error)
    return out


def _expand(text: str, out: list[str], error: Callable[[str], InventoryError]) -> None:
    if "[" not in text:
        out.append(text)
        return
    head, _, rest = text.partition("[")
    body, closed, tail = rest.partition("]")
    if not closed:
        raise error(f"host range in {text!r} has no closing ']'")
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise error(f"host range [{body}] must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise error(f"host range [{body}] must give its end")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise error(f"host range [{body}]: step {bounds[2]!r} is not a number") from None
    if step <= 0:
        raise error(f"host range [{body}]: step must be positive")
    width = 0
    if begin[0] == "0" and len(begin) > 1:
        if len(begin) != len(end):
            raise error(f"host range [{body}]: begin and end must have the same width")
        width = len(begin)
    items: list[str]
    if len(begin) == 1 and len(end) == 1 and begin in string.ascii_letters \
            and end in string.ascii_letters:
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if first > last:
            raise error(f"host range [{body}] must have begin <= end")
        items = list(string.ascii_letters[first:last + 1:step])
    else:
        try:
            low, high = int(begin), int(end)
        except ValueError:
            raise error(f"host range [{body}] must be numbers or single letters") from None
        if low > high:  # Ansible expands it to no host at all; fleet refuses it
            raise error(f"host range [{body}] must have begin <= end")
        if (high - low) // step + 1 > MAX_EXPANSION:
            raise error(f"host range [{body}] is too large (at most {MAX_EXPANSION:,} names)")
        items = [str(n).zfill(width) for n in range(low, high + 1, step)]
    for item in items:
        _expand(f"{head}{item}{tail}", out, error)
        if len(out) > MAX_EXPANSION:
            raise error(f"host pattern {text!r} expands to more than {MAX_EXPANSION:,} names")
