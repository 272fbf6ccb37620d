"""``Connection``: where and how to reach ARM and storage (the connection options).

Its own small module so that commands which only need the options (``fleet plan``,
``fleet inventory`` with Azure sources) do not import the whole engine to build one: that made
every ``fleet plan`` start three times slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleet.endpoints import API_VERSION, ARM_ENDPOINT

if TYPE_CHECKING:
    from fleet.arm.retry import RetryPolicy
    from fleet.arm.throttle import ArmLimits

__all__ = ["Connection"]


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to reach ARM and storage (the ``fleet run`` connection options)."""

    arm_endpoint: str = ARM_ENDPOINT
    api_version: str = API_VERSION
    credential: str = "default"
    ca_file: str | None = None
    storage_connection_string: str | None = None
    storage_account_url: str | None = None
    arm_limits: ArmLimits | None = None  # None: ARM's documented defaults
    retry: RetryPolicy | None = None  # None: the default policy

    def journal_meta(self) -> dict[str, str]:
        """What a later ``fleet resume``/``cancel`` needs to reconnect. Never the storage
        connection string: it holds the account key."""
        return {
            "arm_endpoint": self.arm_endpoint,
            "api_version": self.api_version,
            "credential": self.credential,
            "ca_file": self.ca_file or "",
            "storage": "key" if self.storage_connection_string else (
                "entra" if self.storage_account_url else "none"
            ),
            "storage_account_url": self.storage_account_url or "",
        }
