"""Catch the one way auto-quoting can be defeated: an interpolation written inside a
double-quoted string of the script (``echo "{{ x }}"``). Both sh and PowerShell expand ``$(...)``
inside double quotes even around our single-quoted literal, so this is refused at plan time.

Line-local by design: a double-quoted string or heredoc spanning several lines is not seen.
``{{ x | raw }}`` is the explicit escape hatch and is not checked.

PowerShell's tokenizer also takes the typographic quotes for quotes: U+201C, U+201D and U+201E
open and close a double-quoted (expanding) string like ``"``; U+2018 to U+201B a single-quoted
one like ``'``.
"""

from __future__ import annotations

import re

__all__ = ["interpolation_in_double_quotes"]

_EXPR = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_RAW = re.compile(r"\|\s*raw\s*-?$")


_SH_QUOTES = ("'", '"')
_PS_QUOTES = ("'\u2018\u2019\u201a\u201b", '"\u201c\u201d\u201e')


def _inside_double_quotes(prefix: str, escape: str, quotes: tuple[str, str]) -> bool:
    singles, doubles = quotes
    single = double = False
    index = 0
    while index < len(prefix):
        char = prefix[index]
        if char == escape and not single:
            index += 2
            continue
        if char in singles and not double:
            single = not single
        elif char in doubles and not single:
            double = not double
        elif char == "#" and not single and not double and (index == 0 or prefix[index - 1]
                                                             in " \t;"):
            return False  # the rest of the line is a comment
        index += 1
    return double


def interpolation_in_double_quotes(source: str, os_type: str) -> int | None:
    """The 1-based template line of the first ``{{ }}`` inside double quotes, or None."""
    escape = "`" if os_type == "windows" else "\\"
    quotes = _PS_QUOTES if os_type == "windows" else _SH_QUOTES
    for match in _EXPR.finditer(source):
        if _RAW.search(match.group(1).strip()):
            continue
        start = match.start()
        line_start = source.rfind("\n", 0, start) + 1
        # Earlier interpolations on the line become a neutral word, so their quotes don't count.
        prefix = _EXPR.sub("X", source[line_start:start])
        if _inside_double_quotes(prefix, escape, quotes):
            return source.count("\n", 0, start) + 1
    return None
