"""Inventory: Arc machines from an Ansible-shaped YAML file, and host patterns to select them."""

from __future__ import annotations

from fleet.inventory.loader import RESERVED_VARS, load_inventory
from fleet.inventory.model import Group, Host, Inventory
from fleet.inventory.patterns import parse_pattern, select_hosts

__all__ = [
    "RESERVED_VARS",
    "Group",
    "Host",
    "Inventory",
    "load_inventory",
    "parse_pattern",
    "select_hosts",
]
