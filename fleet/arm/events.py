"""Frozen records the client hands its observer: one per request, retry and throttle pause.

URLs in events are already redacted (:func:`fleet.redact.redact_url`); no event carries a
token, a request body or a SAS signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fleet.arm.throttle import BucketKind

__all__ = ["ArmEvent", "RequestDone", "RequestKind", "RetryScheduled", "ThrottlePaused"]

RequestKind = BucketKind | Literal["graph"]  # graph: a Resource Graph query (its own quota)


@dataclass(frozen=True, slots=True)
class RequestDone:
    """One HTTP exchange finished. ``status`` is None when no HTTP answer came back."""

    kind: RequestKind
    method: str
    url: str  # redacted
    status: int | None
    duration_s: float
    attempt: int
    error: str | None = None  # redacted one-liner when status is None


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """The client will try again after ``delay_s``; ``reason`` says why (``503``, ``transport``...)."""

    kind: RequestKind
    method: str
    url: str  # redacted
    attempt: int  # the attempt that failed
    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class ThrottlePaused:
    """A 429 paused a whole bucket: no request of ``kind`` for this subscription until it ends."""

    subscription_id: str
    kind: RequestKind
    pause_s: float


ArmEvent = RequestDone | RetryScheduled | ThrottlePaused
