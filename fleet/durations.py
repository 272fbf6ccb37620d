"""Durations as operators write them: ``90s``, ``15m``, ``1h``, ``1h30m``, ``2d``, or plain seconds."""

from __future__ import annotations

import re

__all__ = ["DurationSyntaxError", "format_duration", "parse_duration"]

_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
# A week is far beyond any run command; a bigger number is a typo, not an intent.
MAX_DURATION_S = 7 * 86400


class DurationSyntaxError(ValueError):
    """Not a duration. Callers turn it into an InputError naming file, line and field."""


def parse_duration(value: object) -> int:
    """Seconds in ``value``: an int (seconds), a digit string, or units in order d, h, m, s."""
    if isinstance(value, bool):
        raise DurationSyntaxError("expected a duration like 90s, 15m, 1h or 1h30m, got a boolean")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            seconds = int(text)
        else:
            match = _DURATION.fullmatch(text)
            if not text or match is None:
                raise DurationSyntaxError(
                    f"{value!r} is not a duration (write e.g. 90s, 15m, 1h or 1h30m)"
                )
            seconds = sum(
                int(part) * factor
                for part, factor in zip(match.groups(), _UNIT_S.values(), strict=True)
                if part
            )
    else:
        raise DurationSyntaxError(
            f"expected a duration like 90s, 15m, 1h or 1h30m, got {type(value).__name__}"
        )
    if seconds < 0 or seconds > MAX_DURATION_S:
        raise DurationSyntaxError(f"duration must be between 0s and 7d, got {seconds}s")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest spelling ``parse_duration`` reads back: 5400 -> ``1h30m``."""
    if seconds == 0:
        return "0s"
    parts = []
    rest = seconds
    for unit, factor in _UNIT_S.items():
        count, rest = divmod(rest, factor)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
