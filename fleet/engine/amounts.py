"""Counts and percents in rollout policies ("10%" of a base, rounded down)."""

from __future__ import annotations

import math

__all__ = ["resolve_amount"]


def resolve_amount(value: str | int | None, base: int, *, minimum: int = 0) -> int | None:
    """``"10%"`` of ``base`` rounded down (at least ``minimum``), or a plain count."""
    if value is None:
        return None
    text = str(value).strip()
    if text.endswith("%"):
        return max(minimum, math.floor(float(text[:-1]) * base / 100))
    return max(minimum, int(text))
