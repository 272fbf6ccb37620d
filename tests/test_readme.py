"""README.md is what a newcomer reads in five minutes: what fleet is, the two commands, the
quickstart, every command with the exit codes, and a table of the manual's pages (docs/readme/)."""

from __future__ import annotations

import re
from pathlib import Path

from fleet.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# The reference belongs in the manual (docs/readme/*.md), not here.
MAX_README_BYTES = 16_000


def test_readme_documents_every_command_and_exit_code() -> None:
    text = README.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"fleet {name}" in text, f"README.md's command table does not name 'fleet {name}'"
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 9 |", "| 130 |"):
        assert code in text, f"README.md's exit code table has no row {code}"
    assert "./dev.sh demo" in text and "./dev.sh test" in text


def test_readme_stays_short() -> None:
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, (
        f"README.md is {size} bytes (at most {MAX_README_BYTES}): put reference material in a page "
        "of the manual, docs/readme/<topic>.md, and link it from README's 'The manual'"
    )


def test_readme_links_every_page_of_the_manual() -> None:
    linked = set(re.findall(r"\]\(docs/readme/([^)#]+\.md)", README.read_text(encoding="utf-8")))
    pages = {p.name for p in (ROOT / "docs" / "readme").glob("*.md")}
    missing = sorted(pages - linked)
    assert not missing, f"add these pages to the table in README.md's 'The manual': {missing}"
