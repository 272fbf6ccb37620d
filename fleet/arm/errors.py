"""ARM error bodies -> the project's ArmError family, redacted."""

from __future__ import annotations

import json
from typing import Any

from fleet.arm.transport import TransportResponse
from fleet.errors import ArmError, AuthError, NotFoundError, ThrottledError
from fleet.redact import redact_text, redact_url

__all__ = ["MAX_MESSAGE_CHARS", "error_for", "error_parts"]

MAX_MESSAGE_CHARS = 600


def _error_parts(body: bytes) -> tuple[str | None, str | None]:
    try:
        data: Any = json.loads(body.decode("utf-8", errors="replace")) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        inner = data.get("error")
        err: dict[str, Any] = inner if isinstance(inner, dict) else data
        code, message = err.get("code"), err.get("message")
        return (str(code) if code else None, str(message) if message else None)
    text = body.decode("utf-8", errors="replace").strip() if body else ""
    return None, (text or None)


def error_parts(response: TransportResponse, method: str, url: str) -> tuple[str | None, str]:
    """ARM's error code and a redacted, bounded one-line message naming the request."""
    code, message = _error_parts(response.body)
    text = " ".join(redact_text(message or "").split())[:MAX_MESSAGE_CHARS] or "no error message"
    return code, f"{text} ({method} {redact_url(url)})"


def error_for(response: TransportResponse, method: str, url: str) -> ArmError:
    """The exception for a non-success answer; message and URL are redacted and bounded."""
    code, text = error_parts(response, method, url)
    status = response.status
    cls: type[ArmError]
    if status == 404:
        cls = NotFoundError
    elif status in (401, 403):
        cls = AuthError
    elif status == 429:
        cls = ThrottledError
    else:
        cls = ArmError
    return cls(text, status=status, code=code)
