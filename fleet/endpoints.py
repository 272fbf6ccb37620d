"""Where fleet talks to unless told otherwise, and which api-versions it speaks: one constant
each, for the ARM client, the Resource Graph client, the connection defaults and the CLI.

(The simulator keeps its own list of what it accepts, as ARM does; a test checks that fleet's
versions are among them.)
"""

from __future__ import annotations

__all__ = ["API_VERSION", "API_VERSIONS", "ARM_ENDPOINT", "GRAPH_API_VERSION"]

ARM_ENDPOINT = "https://management.azure.com"  # public cloud; sovereign clouds have their own
API_VERSION = "2025-01-13"  # Microsoft.HybridCompute: machines and runCommands
# Every Microsoft.HybridCompute version fleet may be told to use (--api-version): the run
# command operations are identical in both.
API_VERSIONS = (API_VERSION, "2024-11-10-preview")
GRAPH_API_VERSION = "2024-04-01"  # Microsoft.ResourceGraph: the resources query
