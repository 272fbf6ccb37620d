"""Text for a terminal: untrusted characters neutralised, so nothing fleet prints can move the
cursor, recolour the screen, set the window title, write the clipboard (OSC 52) or reorder what
is shown (bidirectional overrides).

Machine names and tags from Azure, check output, group names in error paths, file names: all
reach stdout or stderr through ``clean``. Control characters become a visible ``\\xNN`` (or
``\\uNNNN``) escape, so a hostile value is seen, not obeyed; tab and, unless ``single_line``,
newline are kept.
"""

from __future__ import annotations

import re

__all__ = ["clean"]

# C0 controls (ESC included), DEL, C1 controls (0x9b is a one-byte CSI on some terminals),
# the bidi embeddings/overrides/isolates, line and paragraph separators, and zero-width marks
# that could hide text.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)
_UNSAFE_LINE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, *, single_line: bool = False) -> str:
    """``text`` with every control character shown as an escape instead of sent raw."""
    pattern = _UNSAFE_LINE if single_line else _UNSAFE
    if pattern.search(text) is None:
        return text  # the common case: nothing to copy
    return pattern.sub(_visible, text)
