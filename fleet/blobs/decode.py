"""Turn a job's raw output bytes into text for display, robustly.

Outputs are kept on disk as the raw bytes the agent wrote; only what is *shown* (excerpts,
reports, terminal) is decoded. Windows PowerShell writes UTF-16 LE with a BOM when output is
redirected, Linux scripts write UTF-8, and a capped download may start in the middle of either:
so decoding sniffs BOMs, then a UTF-16 NUL pattern, then falls back to UTF-8 with invalid bytes
replaced. It never raises.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["EXCERPT_MAX_CHARS", "EXCERPT_MAX_LINES", "decode_output", "excerpt_of"]

EXCERPT_MAX_LINES = 20
EXCERPT_MAX_CHARS = 2000

# Control characters other than tab and newline: an excerpt is printed on terminals and put
# into reports, and untrusted output must not move the cursor or change colours there.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def _nul_share(data: bytes, start: int) -> float:
    sample = data[start : 4096 : 2]
    return sample.count(0) / len(sample) if sample else 0.0


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 LE text without a BOM (a truncated tail of PowerShell output): mostly-ASCII
    text then has a NUL in nearly every odd byte. Returns the decoded text, or None."""
    if len(data) < 4 or b"\x00" not in data:
        return None
    odd, even = _nul_share(data, 1), _nul_share(data, 0)
    if odd >= 0.6 and even <= 0.1:
        return data.decode("utf-16-le", "replace")
    if even >= 0.6 and odd <= 0.1:  # cut in the middle of a code unit: realign
        return data[1:].decode("utf-16-le", "replace")
    return None


def decode_output(data: bytes) -> str:
    """Decode output bytes for display: BOM-aware (UTF-8, UTF-16 LE/BE), UTF-16 LE sniffed
    without a BOM, else UTF-8; invalid bytes become U+FFFD; CRLF becomes LF. Never raises."""
    if data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8", "replace")
    elif data.startswith(codecs.BOM_UTF16_LE):
        text = data[2:].decode("utf-16-le", "replace")
    elif data.startswith(codecs.BOM_UTF16_BE):
        text = data[2:].decode("utf-16-be", "replace")
    else:
        sniffed = _utf16_without_bom(data)
        text = sniffed if sniffed is not None else data.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def excerpt_of(text: str, *, lines: int = EXCERPT_MAX_LINES, max_chars: int = EXCERPT_MAX_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``max_chars`` characters, with terminal
    escapes and control characters removed (tab and newline kept)."""
    clean = _CONTROL.sub("", _ANSI.sub("", text)).rstrip("\n")
    tail = "\n".join(clean.split("\n")[-lines:])
    if len(tail) > max_chars:
        tail = "…" + tail[-(max_chars - 1) :]
    return tail
