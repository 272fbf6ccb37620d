"""Inventory from Azure itself: ARM machine listings and Resource Graph queries, cached, merged
by resource id with the static file, grouped by tags, OS and location.

Entry point: :func:`fleet.inventory.sources.load.load_inventory_with_sources` (re-exported by
``fleet.inventory``). This package's ``__init__`` stays import-light on purpose: the static
loader imports :mod:`fleet.inventory.sources.model`.
"""

from __future__ import annotations

from fleet.inventory.sources.model import (
    DEFAULT_KEYED_GROUPS,
    Discovered,
    KeyedGroup,
    SourcesConfig,
    SourceSpec,
)

__all__ = ["DEFAULT_KEYED_GROUPS", "Discovered", "KeyedGroup", "SourceSpec", "SourcesConfig"]
