"""Random Ansible inventories for the differential tests: a group DAG written in YAML (bodies
split over several mentions, sections in random order), group_vars/host_vars in every layout
ansible-core reads, an explicit ``ungrouped`` now and then, ``ansible_group_priority``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

GROUP_NAMES = ("web", "web_eu", "db", "dbx", "app", "empty1", "empty2", "edge")
HOST_NAMES = ("h0", "h1", "h2", "h3", "web-01", "web-02", "db-01")
VAR_NAMES = ("x", "z")  # host inline vars
# Group inline vars: p and q are set nowhere else, so their winner shows the group order
# (depth, priority, name) even when a vars file or a host var masks x.
GROUP_VAR_NAMES = ("x", "p", "q")
COORDS = {"subscription_id": "s-1", "resource_group": "rg", "location": "eastus",
          "os_type": "linux"}
LAYOUTS = ("yml", "yaml", "json", "bare", "folder", "yaml+yml", "folder+yaml")


@dataclass
class GroupSpec:
    name: str
    parents: list[str]
    hosts: list[tuple[str, dict[str, Any]]]
    vars: dict[str, Any]
    order: list[str]  # the order of vars/hosts/children in the body
    top_level: bool  # a root written at the top of the document, not under all.children


@dataclass
class InventorySpec:
    groups: list[GroupSpec]
    all_hosts: list[tuple[str, dict[str, Any]]]
    ungrouped_hosts: list[str]
    all_vars: dict[str, Any]
    vars_files: list[tuple[str, str, str]] = field(default_factory=list)  # kind, name, layout

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def document(self) -> dict[str, Any]:
        bodies: dict[str, dict[str, Any]] = {}
        for group in self.groups:
            body: dict[str, Any] = {}
            for key in group.order:
                if key == "vars" and group.vars:
                    body["vars"] = dict(group.vars)
                elif key == "hosts" and group.hosts:
                    body["hosts"] = {h: (dict(v) or None) for h, v in group.hosts}
                elif key == "children":
                    body["children"] = {}
            bodies[group.name] = body
        placed: set[str] = set()
        all_children: dict[str, Any] = {}
        top: dict[str, Any] = {}
        for group in self.groups:
            body = bodies[group.name]
            if not group.parents:
                (top if group.top_level else all_children)[group.name] = body
                placed.add(group.name)
                continue
            for parent in group.parents:
                children = bodies[parent].setdefault("children", {})
                first = group.name not in placed
                children[group.name] = body if first else None
                placed.add(group.name)
        for body in bodies.values():
            if body.get("children") == {}:
                del body["children"]
        root: dict[str, Any] = {"vars": {**COORDS, **self.all_vars}}
        if self.all_hosts:
            root["hosts"] = {h: (dict(v) or None) for h, v in self.all_hosts}
        if self.ungrouped_hosts:
            all_children["ungrouped"] = {"hosts": dict.fromkeys(self.ungrouped_hosts)}
        if all_children:
            root["children"] = all_children
        return {"all": root, **top}

    def ini(self) -> str:
        """The same inventory in Ansible's INI format (sections in group order)."""
        lines = ["[all:vars]", *(f"{k}={v}" for k, v in {**COORDS, **self.all_vars}.items())]
        if self.all_hosts:
            lines.append("[all]")
            lines += [_ini_host(h, v) for h, v in self.all_hosts]
        if self.ungrouped_hosts:
            lines.append("[ungrouped]")
            lines += self.ungrouped_hosts
        later: list[str] = []  # some :children sections after every group is defined
        for group in self.groups:
            for key in group.order:
                if key == "hosts":
                    lines.append(f"[{group.name}]")
                    lines += [_ini_host(h, v) for h, v in group.hosts]
                elif key == "vars" and group.vars:
                    lines.append(f"[{group.name}:vars]")
                    lines += [f"{k}={v}" for k, v in group.vars.items()]
            children = [g.name for g in self.groups if group.name in g.parents]
            if children:
                section = [f"[{group.name}:children]", *children]
                (later if group.top_level else lines).extend(section)
        return "\n".join([*lines, *later]) + "\n"

    def write(self, folder: Path, *, ini: bool = False) -> Path:
        path = folder / ("inventory.ini" if ini else "inventory.yaml")
        text = self.ini() if ini else yaml.safe_dump(self.document(), sort_keys=False)
        path.write_text(text, encoding="utf-8")
        for kind, name, layout in self.vars_files:
            _write_vars(folder / kind, name, layout)
        return path


def _ini_host(host: str, values: dict[str, Any]) -> str:
    return " ".join([host, *(f"{k}={v}" for k, v in values.items())])


def _write_vars(folder: Path, name: str, layout: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{name}-{layout}"
    values = {"x": f"{tag}-x", "y": f"{tag}-y"}
    if layout in ("yml", "yaml", "bare", "yaml+yml", "folder+yaml"):
        for ext in {"yml": [".yml"], "yaml": [".yaml"], "bare": [""],
                    "yaml+yml": [".yaml", ".yml"], "folder+yaml": [".yaml"]}[layout]:
            (folder / f"{name}{ext}").write_text(yaml.safe_dump({**values, "w": ext}))
    if layout == "json":
        (folder / f"{name}.json").write_text(json.dumps({**values, "w": "json"}))
    if layout in ("folder", "folder+yaml"):
        sub = folder / name
        (sub / "deeper").mkdir(parents=True, exist_ok=True)
        (sub / "a.yaml").write_text(yaml.safe_dump({"x": f"{tag}-a", "z": "a"}))
        (sub / "deeper" / "b.yml").write_text(yaml.safe_dump({"x": f"{tag}-deeper"}))
        (sub / "c").write_text(yaml.safe_dump({"y": f"{tag}-bare-c"}))
        (sub / ".hidden.yaml").write_text(yaml.safe_dump({"z": "hidden"}))
        (sub / "d.yaml~").write_text(yaml.safe_dump({"z": "backup"}))
        (sub / "e.txt").write_text(yaml.safe_dump({"z": "txt"}))


@st.composite
def inventories(draw: st.DrawFn) -> InventorySpec:
    names = draw(st.lists(st.sampled_from(GROUP_NAMES), min_size=1, max_size=6, unique=True))
    groups: list[GroupSpec] = []
    for index, name in enumerate(names):
        parents = draw(st.lists(st.sampled_from(names[:index]), max_size=2, unique=True)) \
            if index else []
        hosts = draw(st.lists(st.tuples(
            st.sampled_from(HOST_NAMES),
            st.dictionaries(st.sampled_from(VAR_NAMES), st.just(f"host-in-{name}"), max_size=1)),
            max_size=3, unique_by=lambda item: item[0]))
        if name.startswith("empty"):
            hosts = []
        group_vars: dict[str, Any] = draw(st.dictionaries(
            st.sampled_from(GROUP_VAR_NAMES), st.just(f"{name}-inline"), max_size=3))
        if draw(st.booleans()):
            group_vars["ansible_group_priority"] = draw(st.integers(0, 3))
        order = draw(st.permutations(["vars", "hosts", "children"]))
        groups.append(GroupSpec(name, parents, hosts, group_vars, list(order),
                                top_level=draw(st.booleans())))
    all_hosts = draw(st.lists(st.tuples(
        st.sampled_from(HOST_NAMES),
        st.dictionaries(st.sampled_from(VAR_NAMES), st.just("host-in-all"), max_size=1)),
        max_size=2, unique_by=lambda item: item[0]))
    ungrouped = draw(st.lists(st.sampled_from(HOST_NAMES), max_size=2, unique=True)) \
        if draw(st.integers(0, 3)) == 0 else []
    declared = {h for g in groups for h, _ in g.hosts} | {h for h, _ in all_hosts} | set(ungrouped)
    if not declared:
        all_hosts = [("h0", {})]
        declared = {"h0"}
    all_vars = draw(st.dictionaries(st.sampled_from(GROUP_VAR_NAMES), st.just("all-inline"),
                                    max_size=2))
    files: list[tuple[str, str, str]] = []
    for name in draw(st.lists(st.sampled_from(["all", "ungrouped", *names]), max_size=4,
                              unique=True)):
        files.append(("group_vars", name, draw(st.sampled_from(LAYOUTS))))
    for name in draw(st.lists(st.sampled_from(sorted(declared)), max_size=2, unique=True)):
        files.append(("host_vars", name, draw(st.sampled_from(LAYOUTS))))
    return InventorySpec(groups, all_hosts, ungrouped, all_vars, files)


TERMS = ("all", "ungrouped", "*", "web*", "db?", "h[0-2]", "*-0?", "~web", "~h[12]", "e*",
         "nosuch", "al*")


@st.composite
def patterns(draw: st.DrawFn, spec: InventorySpec) -> str:
    """Mostly names the inventory has (so most patterns select something), some globs,
    regexes, built-in groups and an unknown name."""
    hosts = {h for g in spec.groups for h, _ in g.hosts} | {h for h, _ in spec.all_hosts}
    known = [*spec.group_names, *sorted(hosts | set(spec.ungrouped_hosts))]
    count = draw(st.integers(1, 3))
    separator = draw(st.sampled_from([":", ","]))
    parts = []
    for index in range(count):
        op = "" if index == 0 else draw(st.sampled_from(["", "&", "!"]))
        pool = known if draw(st.integers(0, 2)) else list(TERMS)
        parts.append(op + draw(st.sampled_from(pool)))
    return separator.join(parts)
