"""The ARM layer's clock is fleet's one injectable clock (``fleet.clock``)."""

from __future__ import annotations

from fleet.clock import Clock, MonotonicClock

__all__ = ["Clock", "MonotonicClock"]
