"""The manual (docs/readme/*.md, mkdocs.yml) builds with `mkdocs build --strict`: a broken link or
anchor, a missing file or a page left out of the navigation fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "readme"


def _nav_pages(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, list):
        return set().union(*(_nav_pages(item) for item in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(_nav_pages(value) for value in node.values())) if node else set()
    return set()


def _config() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def test_the_site_is_built_from_docs_readme() -> None:
    assert (ROOT / _config()["docs_dir"]).resolve() == DOCS


def test_every_page_is_in_the_navigation() -> None:
    nav = _nav_pages(_config()["nav"])
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    missing = sorted(pages - nav)
    assert not missing, f"add these pages to nav: in mkdocs.yml: {missing}"
    assert nav - pages == {"index.md"}, "nav names pages that do not exist (index.md is README.md)"


def test_every_page_starts_with_its_title() -> None:
    for page in sorted(DOCS.rglob("*.md")):
        first = page.read_text(encoding="utf-8").lstrip().splitlines()[0]
        assert first.startswith("# "), f"{page.relative_to(ROOT)}: start the page with '# Title'"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    home = (site / "index.html").read_text(encoding="utf-8")
    # README.md is the home page, its links to docs/readme/*.md lead to the site's pages.
    assert "./dev.sh demo" in home and 'href="run/"' in home
    assert (site / "run" / "index.html").is_file() and (site / "search" / "search_index.json").is_file()
    # A repository file a page links to is published with the site.
    performance = (site / "performance" / "index.html").read_text(encoding="utf-8")
    assert 'href="../repo/bench/RESULTS/"' in performance
    assert (site / "repo" / "bench" / "RESULTS" / "index.html").is_file()


def test_the_layers_table_matches_the_layer_test() -> None:
    from tests.test_layers import LAYERS

    text = (DOCS / "development.md").read_text(encoding="utf-8")
    table = text[text.index("## Layers") :].split("\n\n")[2]
    documented = {}
    for line in table.splitlines()[2:]:
        name, modules = [cell.strip() for cell in line.strip("|").split("|")]
        units = {m if m == "fleet" else f"fleet.{m}" for m in re.findall(r"`([\w.]+)`", modules)}
        documented[name] = frozenset(units)
    assert documented == dict(LAYERS), (
        "the Layers table in docs/readme/development.md differs from LAYERS in tests/test_layers.py"
    )
