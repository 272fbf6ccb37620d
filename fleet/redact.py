"""Redaction: the one place that knows what a secret looks like in text.

``mask_signatures`` and ``mask_account_keys`` hide SAS signatures and storage account keys and
leave the rest readable (plans, storage errors). ``redact_url``/``redact_text`` go further for
anything headed to an event, a log line or an ARM error: a SAS URI carries its whole grant in
the query string, and any query value we did not put there ourselves could be one, so every
query value is replaced except a few ARM parameters known to be harmless; bearer tokens and
JWT-shaped strings are masked wherever they appear.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = ["MASK", "mask_account_keys", "mask_signatures", "redact_text", "redact_url"]

MASK = "***"

# Query parameters whose values are ARM plumbing, never credentials.
_SAFE_QUERY_KEYS = frozenset({"api-version", "$expand", "$top", "$filter", "$select"})

_URL_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_SIG_RE = re.compile(r"(?i)(\bsig=)[^&#\s\"'<>]*")
_ACCOUNT_KEY_RE = re.compile(r"(?i)(\bAccountKey=)[^;\s\"']*")
_BEARER_RE = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
# Three base64url segments starting with a JSON header: an access token even without "Bearer".
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def mask_signatures(text: str) -> str:
    """Every ``sig=`` value (a SAS signature) as ``***``; the rest of the text as it was."""
    return _SIG_RE.sub(r"\g<1>" + MASK, text)


def mask_account_keys(text: str) -> str:
    """Every ``AccountKey=`` value (a connection string's key) as ``***``."""
    return _ACCOUNT_KEY_RE.sub(r"\g<1>" + MASK, text)


def redact_url(url: str) -> str:
    """``url`` with user info dropped and every query value masked except ARM's safe ones."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_signatures(url)
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
    """``text`` with URLs redacted; SAS signatures, account keys, bearer tokens and JWTs masked."""
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    text = mask_account_keys(mask_signatures(text))
    text = _BEARER_RE.sub(r"\g<1>" + MASK, text)
    return _JWT_RE.sub(MASK, text)
