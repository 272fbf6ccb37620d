"""Redaction of URLs and free text before they reach an event, a log line or an exception.

A SAS URI carries its signature (and the rest of its grant) in the query string, and any
query value we did not put there ourselves could be one, so every query value is replaced
except a short list of ARM parameters known to be harmless. Bearer tokens and JWT-shaped
strings are masked wherever they appear in text.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = ["MASK", "redact_text", "redact_url"]

MASK = "***"

# Query parameters whose values are ARM plumbing, never credentials.
_SAFE_QUERY_KEYS = frozenset({"api-version", "$expand", "$top", "$filter", "$select"})

_URL_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_SIG_RE = re.compile(r"(?i)(\bsig=)[^&\s\"'<>]+")
_BEARER_RE = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
# Three base64url segments starting with a JSON header: an access token even without "Bearer".
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_url(url: str) -> str:
    """``url`` with user info dropped and every query value masked except ARM's safe ones."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _SIG_RE.sub(r"\g<1>" + MASK, url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{quote(k, safe='$-._~')}="
            + (quote(v, safe="-._~:") if k.lower() in _SAFE_QUERY_KEYS else MASK)
            for k, v in pairs
        )
        if not pairs:  # not key=value shaped: could still be a token
            query = MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """``text`` with URLs redacted, SAS signatures, bearer tokens and JWTs masked."""
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    text = _SIG_RE.sub(r"\g<1>" + MASK, text)
    text = _BEARER_RE.sub(r"\g<1>" + MASK, text)
    return _JWT_RE.sub(MASK, text)
