"""Read an inventory file as Ansible would (plus ``group_vars/`` and ``host_vars/`` beside it):
Ansible's YAML inventory, its INI inventory, or the JSON ``ansible-inventory --list`` prints.

Which reader: ``.yaml``/``.yml`` YAML; ``.json`` the ``--list`` JSON (or YAML-shaped JSON when
it has no ``_meta`` and its groups are mappings); ``.ini``/``.cfg`` INI; anything else is sniffed:
``{`` first is JSON, a first line ``name:`` is YAML, else INI (Ansible's ``hosts`` file).

Groups, hosts and variables are then resolved by ``fleet.inventory.resolve`` (Ansible's
precedence). Inventory values are data, never templates: a ``{{`` in a tag stays two braces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleet.errors import InventoryError
from fleet.inventory.defaults import Defaults
from fleet.inventory.drafts import RESERVED_VARS, VAR_NAME, Drafts, plain
from fleet.inventory.model import Inventory
from fleet.inventory.read_ini import read_ini
from fleet.inventory.read_json import looks_like_list_json, read_list_json
from fleet.inventory.read_yaml import SOURCES_KEY, read_yaml_document
from fleet.inventory.resolve import resolve
from fleet.inventory.sources.merge import add_discovered
from fleet.inventory.sources.model import DEFAULT_KEYED_GROUPS, Discovered, KeyedGroup
from fleet.inventory.sources.parse import parse_sources
from fleet.inventory.varsfiles import VarsFiles
from fleet.safeio import read_text
from fleet.yamlsrc import YMap, describe, line_of, load_yaml_text

__all__ = [
    "RESERVED_VARS",
    "VAR_NAME",
    "build_inventory",
    "inventory_format",
    "load_inventory",
    "plain",
    "read_sources",
]

_YAML_FIRST_LINE = re.compile(r"^[^\s=\[#;][^=\s]*:(\s|$)")


def inventory_format(path: Path, text: str) -> str:
    """``yaml``, ``ini`` or ``json`` (``--list`` output) for this file."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix in (".ini", ".cfg"):
        return "ini"
    stripped = text.lstrip("\ufeff \t\r\n")
    if suffix == ".json" or stripped.startswith("{"):
        return "json"
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        return "yaml" if _YAML_FIRST_LINE.match(line) or line == "---" else "ini"
    return "yaml"


class _Source:
    """One inventory file, read once: its format, text and (for YAML) its document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = read_text(path, error=InventoryError)
        self.format = inventory_format(path, self.text)
        self.data: Any = None
        if self.format in ("yaml", "json"):
            self.data = load_yaml_text(self.text, file=str(path), error=InventoryError)
            if self.format == "json" and not looks_like_list_json(self.data):
                self.format = "yaml"  # a YAML-shaped inventory written as JSON
        if self.format == "yaml":
            if self.data is None:
                raise InventoryError("inventory is empty (expected 'all:' with hosts or "
                                     "children)", file=str(path), line=1)
            if not isinstance(self.data, YMap):
                raise InventoryError("top level must be a mapping of groups ('all:'), got "
                                     f"{describe(self.data)}", file=str(path),
                                     line=line_of(self.data) or 1)

    @property
    def has_sources(self) -> bool:
        return self.format == "yaml" and SOURCES_KEY in self.data

    def read_into(self, drafts: Drafts) -> None:
        """Hand the file to ``drafts``, then let go of its text and document: what the hosts
        need is in the drafts now, and resolving 10,000 hosts beside them doubled the peak."""
        if self.format == "yaml":
            read_yaml_document(drafts, self.data)
        elif self.format == "json":
            read_list_json(drafts, self.data)
        else:
            read_ini(drafts, self.text)
        self.data = None
        self.text = ""


# A top-level ``sources:`` key of a YAML inventory (possibly quoted). A file without one is not
# parsed here: parsing a 10,000-host inventory only to learn it has no sources doubled the cost
# of every plan.
_SOURCES_LINE = re.compile(r"""^["']?sources["']?[ \t]*:""", re.MULTILINE)


def read_sources(path: Path) -> Any:
    """The file's ``sources:`` section as a ``SourcesConfig``, or None if it has none."""
    if not _SOURCES_LINE.search(read_text(path, error=InventoryError)):
        return None
    source = _Source(path)
    if not source.has_sources:
        return None
    return parse_sources(source.data[SOURCES_KEY], file=str(path), container=source.data)


def load_inventory(path: Path, *, defaults: Defaults | None = None) -> Inventory:
    """Load ``path`` (and ``group_vars/``, ``host_vars/`` beside it). Raises InventoryError.

    Pure: a file with a ``sources:`` section needs Azure, so it is refused here; read it with
    ``fleet.inventory.load_inventory_with_sources``. ``defaults`` (``--defaults FILE``) fills
    the Azure keys an Ansible inventory lacks."""
    source = _Source(path)
    if source.has_sources:
        raise InventoryError("this inventory has a sources: section, which lists machines "
                             "from Azure; load it with load_inventory_with_sources (fleet "
                             "inventory, plan and run do)", file=str(path),
                             line=source.data.line_of(SOURCES_KEY), field=SOURCES_KEY)
    return _build(source, (), DEFAULT_KEYED_GROUPS, defaults)


def build_inventory(path: Path | None, *, discovered: Sequence[Discovered],
                    keyed_groups: Sequence[KeyedGroup] = DEFAULT_KEYED_GROUPS,
                    defaults: Defaults | None = None) -> Inventory:
    """The inventory of ``path`` (may be None: Azure only) merged with ``discovered`` machines.

    Merge by resource id (case-insensitive); a static host given by name only matches the one
    discovered machine of that name. Precedence, lowest first: group vars (keyed groups' too)
    < what Azure says (subscription_id, resource_group, location, os_type, tags, arc_status,
    arc_agent_version, arc_os_name) < host vars in the file < ``host_vars/<host>``.
    """
    return _build(_Source(path) if path is not None else None, discovered,
                  tuple(keyed_groups), defaults, from_azure=True)


def _build(source: _Source | None, discovered: Sequence[Discovered],
           keyed: tuple[KeyedGroup, ...], defaults: Defaults | None, *,
           from_azure: bool = False
           ) -> Inventory:
    drafts = Drafts(source.path if source is not None else Path("<azure>"))
    if source is not None:
        source.read_into(drafts)
    notes = add_discovered(drafts, discovered, keyed)
    if not drafts.hosts:
        if from_azure:
            raise drafts.error("the sources found no machines and the file lists none", None,
                               SOURCES_KEY, hint="check the subscriptions, resource groups "
                               "and query")
        raise drafts.error("inventory has no hosts", 1, "all")
    base = source.path.parent if source is not None else None
    return resolve(drafts, VarsFiles(base), from_azure=from_azure, defaults=defaults,
                   notes=notes)
