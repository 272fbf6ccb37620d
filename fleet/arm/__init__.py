"""ARM client layer: transport seam, credentials, throttle, retry and the typed client.

The engine talks to ARM only through :class:`ArmClient`; only :mod:`fleet.arm.transport`
imports aiohttp's client.
"""

from __future__ import annotations

from fleet.arm.client import ArmClient
from fleet.arm.credentials import (
    DevTokenProvider,
    TokenProvider,
    build_credential,
    is_loopback_url,
)
from fleet.arm.events import ArmEvent, RequestDone, RetryScheduled, ThrottlePaused
from fleet.arm.models import ArmStats, MachineInfo, RunCommandView
from fleet.arm.retry import RetryPolicy
from fleet.arm.throttle import AimdPolicy, ArmLimits, ConcurrencyController
from fleet.arm.transport import (
    AiohttpTransport,
    Transport,
    TransportFailure,
    TransportResponse,
    make_transport,
)
from fleet.clock import Clock, MonotonicClock

__all__ = [
    "AimdPolicy",
    "AiohttpTransport",
    "ArmClient",
    "ArmEvent",
    "ArmLimits",
    "ArmStats",
    "Clock",
    "ConcurrencyController",
    "DevTokenProvider",
    "MachineInfo",
    "MonotonicClock",
    "RequestDone",
    "RetryPolicy",
    "RetryScheduled",
    "RunCommandView",
    "ThrottlePaused",
    "TokenProvider",
    "Transport",
    "TransportFailure",
    "TransportResponse",
    "build_credential",
    "is_loopback_url",
    "make_transport",
]
