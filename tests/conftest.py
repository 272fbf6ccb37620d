"""Fixture modules live in tests/fixtures/; each concern has its own module.

Under ``CI=true`` (``.ci/run`` sets it) a skip of a test that must run everywhere is a failure:
the official-SDK, OpenAPI-spec and seed tests, the conformance suite's simulator target, and
anything that needs Azurite. Elsewhere they may skip (with their reason), never in CI.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

pytest_plugins = [
    "tests.fixtures.azurite",
    "tests.fixtures.sim",
    "tests.fixtures.temporal",
]

# Test files (relative to the repository) whose skip fails CI.
MUST_RUN_IN_CI = (
    "tests/sim/test_sim_sdk.py",
    "tests/sim/test_sim_spec_schema.py",
    "tests/sim/test_sim_seed_and_faults.py",
    "tests/conformance/",
    "tests/browser/",
)
# Skip reasons that fail CI wherever they come from (a missing tool CI installs).
MUST_NOT_SKIP_IN_CI = ("Azurite",)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def must_run(nodeid: str, reason: str) -> bool:
    path = nodeid.split("::", 1)[0]
    if "[live" in nodeid:  # the live target needs a subscription: it may skip anywhere
        return False
    return path.startswith(MUST_RUN_IN_CI) or any(r in reason for r in MUST_NOT_SKIP_IN_CI)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_instead(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true: {report.nodeid} must run in CI but was skipped ({reason}); install what it "
        "needs (pip install -e '.[dev,sim]', npm ci) instead of skipping"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and must_run(item.nodeid, _skip_reason(report)):
        _fail_instead(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, None]:
    # A module-level importorskip (the SDK test) skips at collection, not at run time.
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and must_run(report.nodeid, _skip_reason(report)):
        _fail_instead(report)
