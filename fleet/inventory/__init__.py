"""Inventory: Arc machines from an Ansible-shaped YAML file and from Azure (ARM listings, Resource
Graph), and host patterns to select them."""

from __future__ import annotations

from fleet.inventory.loader import RESERVED_VARS, load_inventory
from fleet.inventory.model import Group, Host, Inventory, Origin
from fleet.inventory.patterns import parse_pattern, select_hosts
from fleet.inventory.sources.load import load_inventory_with_sources

__all__ = [
    "RESERVED_VARS",
    "Group",
    "Host",
    "Inventory",
    "Origin",
    "load_inventory",
    "load_inventory_with_sources",
    "parse_pattern",
    "select_hosts",
]
