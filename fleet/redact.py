"""Redaction: the one place that knows what a secret looks like in text.

``mask_signatures`` and ``mask_account_keys`` hide SAS signatures and storage account keys and
leave the rest readable (plans, storage errors). ``redact_url``/``redact_text`` go further for
anything headed to an event, a log line or an ARM error: a SAS URI carries its whole grant in
the query string, and any query value we did not put there ourselves could be one, so every
query value is replaced except a few ARM parameters known to be harmless; bearer tokens and
JWT-shaped strings are masked wherever they appear.

``SecretMask`` is for what fleet does not write itself: a script's output. It knows the exact
secret values resolved for the run (``add``) and masks them, and their common encodings
(JSON-escaped, URL-encoded, hex, base64 at any alignment, UTF-16), plus token-shaped strings
(``mask_tokens``: SAS ``sig=``, ``AccountKey=``, bearer tokens, JWTs, PEM private keys).
Limits, stated in the docs: a value shorter than ``MIN_SECRET_CHARS`` is not masked (it would
blank ordinary words); a script that transforms a secret otherwise (reverses it, hashes it,
prints one character per line) defeats any masking; in base64 up to two characters of the
secret at either end may stay visible, because they share a base64 group with other text.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "MIN_SECRET_CHARS",
    "SecretMask",
    "mask_account_keys",
    "mask_signatures",
    "mask_tokens",
    "redact_text",
    "redact_url",
]

MASK = "***"

# Query parameters whose values are ARM plumbing, never credentials.
_SAFE_QUERY_KEYS = frozenset({"api-version", "$expand", "$top", "$filter", "$select"})

_URL_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_SIG_RE = re.compile(r"(?i)(\bsig=)[^&#\s\"'<>]*")
_ACCOUNT_KEY_RE = re.compile(r"(?i)(\bAccountKey=)[^;\s\"']*")
_BEARER_RE = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
# Three base64url segments starting with a JSON header: an access token even without "Bearer".
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PEM_RE = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----)")
# A secret shorter than this is not masked in output: it would blank ordinary words.
MIN_SECRET_CHARS = 4


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


def mask_tokens(text: str) -> str:
    """Token-shaped strings in free text (a script's output) masked: SAS signatures, account
    keys, bearer tokens, JWTs and PEM private key bodies. URLs are otherwise left readable."""
    low = text.lower()  # a plain search first: the regexes are far slower than no match
    if "sig=" in low:
        text = mask_signatures(text)
    if "accountkey=" in low:
        text = mask_account_keys(text)
    if "bearer" in low:
        text = _BEARER_RE.sub(r"\g<1>" + MASK, text)
    if "eyJ" in text:
        text = _JWT_RE.sub(MASK, text)
    if "private key-----" in low:
        text = _PEM_RE.sub(r"\g<1>" + MASK + r"\g<2>", text)
    return text


_TOKEN_HINTS = (b"sig=", b"accountkey=", b"bearer", b"private key-----")


def _may_hold_tokens(data: bytes) -> bool:
    if b"eyJ" in data:
        return True
    low = data.lower()
    return any(hint in low for hint in _TOKEN_HINTS)


def _b64_cores(data: bytes) -> list[tuple[str, str]]:
    """For each of the 3 alignments ``data`` can have inside a longer base64 stream: the
    base64 characters that encode only bytes of ``data``, and base64 of as many ``*`` bytes
    (a replacement that keeps the stream decodable: a sweep's result lines stay parseable)."""
    cores = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data).decode()
        first = -(-pad // 3)  # the first 3-byte group made of data only
        last = (pad + len(data)) // 3  # one past the last complete such group
        if last - first < 2:
            continue
        core = encoded[4 * first : 4 * last]
        stars = base64.b64encode(b"*" * (3 * (last - first))).decode()
        cores.append((core, stars))
        cores.append((core.replace("+", "-").replace("/", "_"), stars))
    return cores


def _as_surrogates(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class SecretMask:
    """Masks the exact secret values a run resolved, in the forms a script may print them.

    Works on ``str``; raw bytes go through ``mask_bytes`` (lossless for everything else: bytes
    that are not UTF-8 survive as they were)."""

    def __init__(self) -> None:
        self._replacements: dict[str, str] = {}
        self._byte_forms: list[bytes] = []

    def __len__(self) -> int:
        return len(self._replacements)

    def add(self, value: str) -> None:
        """Remember ``value`` (and its encodings). Short values are ignored (see module doc)."""
        if len(value) < MIN_SECRET_CHARS or value in self._replacements:
            return
        raw = value.encode("utf-8", "surrogatepass")
        forms = {
            value,
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quote(value, safe=""),
            quote(value),
            quote_plus(value),
            raw.hex(),
            raw.hex().upper(),
            value.replace("'", "'\\''"),  # inside a POSIX sh single-quoted word (set -x)
            value.replace("'", "''"),  # inside a PowerShell single-quoted string
        }
        new = dict.fromkeys(forms, MASK)
        new[_as_surrogates(value.encode("utf-16-le", "surrogatepass"))] = _as_surrogates(
            MASK.encode("utf-16-le"))
        for core, stars in _b64_cores(raw):
            new.setdefault(core, stars)
        for form, replacement in new.items():
            if len(form) >= MIN_SECRET_CHARS and form not in self._replacements:
                self._replacements[form] = replacement
                self._byte_forms.append(form.encode("utf-8", "surrogateescape"))

    def _compiled(self, text: str) -> re.Pattern[str] | None:
        """A pattern of the forms present in ``text`` (a plain search each: fast)."""
        present = [form for form in self._replacements if form in text]
        if not present:
            return None
        present.sort(key=len, reverse=True)
        return re.compile("|".join(re.escape(form) for form in present))

    def mask_text(self, text: str) -> str:
        """``text`` with every known secret form and every token-shaped string masked."""
        pattern = self._compiled(text)
        if pattern is not None:
            text = pattern.sub(lambda m: self._replacements[m.group(0)], text)
        return mask_tokens(text)

    def mask_bytes(self, data: bytes) -> bytes:
        """Raw output bytes, masked. UTF-8 (or any bytes) byte for byte; UTF-16 with a BOM is
        decoded, masked and encoded again (token shapes included)."""
        for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
            if data.startswith(bom):
                body = data[len(bom):]
                odd = body[len(body) - len(body) % 2:]
                text = body[: len(body) - len(odd)].decode(codec, "surrogatepass")
                data = bom + self.mask_text(text).encode(codec, "surrogatepass") + odd
                break  # and below: UTF-8 forms too, in case it only looked like UTF-16
        if not _may_hold_tokens(data) and not any(
            form in data for form in self._byte_forms
        ):
            return data  # the common case, without decoding anything
        text = _as_surrogates(data)
        masked = self.mask_text(text)
        return data if masked == text else masked.encode("utf-8", "surrogateescape")
