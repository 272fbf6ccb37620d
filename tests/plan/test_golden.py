"""Golden plans: every ``tests/golden/<case>/`` (inventory.yaml + playbook.yaml, optional
args.json with limit / extra_vars / seed / run_id) must plan to exactly ``expected.json``.

Regenerate after an intended change:  FLEET_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/plan/test_golden.py
then review the diff of expected.json like any other code change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fleet.inventory import load_inventory
from fleet.plan.build import build_plan
from fleet.plan.render import dumps_plan

GOLDEN = Path(__file__).parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "playbook.yaml").is_file())
RUN_ID = "20261126-014512-ab12"


def plan_case(case: Path) -> str:
    args = json.loads((case / "args.json").read_text()) if (case / "args.json").exists() else {}
    plan = build_plan(
        playbook_path=Path("playbook.yaml"),
        inventory=load_inventory(Path("inventory.yaml")),
        limit=args.get("limit"),
        extra_vars=args.get("extra_vars", {}),
        run_id=args.get("run_id", RUN_ID),
        seed=args.get("seed", 0),
    )
    return dumps_plan(plan)


@pytest.mark.parametrize("name", CASES)
def test_golden_plan(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = GOLDEN / name
    monkeypatch.chdir(case)  # paths in the plan are relative, so goldens hold in any checkout
    actual = plan_case(case)
    expected_path = case / "expected.json"
    if os.environ.get("FLEET_UPDATE_GOLDEN") == "1":
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"no expected.json in {case}; run with FLEET_UPDATE_GOLDEN=1"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_golden_cases_exist() -> None:
    assert {"precedence", "selection", "waves", "pattern-waves", "quoting"} <= set(CASES)
