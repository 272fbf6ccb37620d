"""A real headless Chromium (Debian's chromium + chromium-driver, driven by selenium) for the
HTML reports, and a place for screenshots: ``$FLEET_TEST_ARTIFACTS`` or the test's tmp_path.

Every page is loaded with a hook installed before its own script runs (over the DevTools
protocol, which the page's CSP does not govern) that records CSP violations and calls to
``alert``/``confirm``/``prompt`` instead of showing them, so a test can assert there were none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")
DRIVER_NAMES = ("chromedriver",)
# Hang guards only: each wait returns as soon as its condition holds.
WAIT_S = 60.0

_RECORDER = """
window.__fleet = {violations: [], alerts: []};
document.addEventListener('securitypolicyviolation', function (e) {
  window.__fleet.violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
['alert', 'confirm', 'prompt'].forEach(function (name) {
  window[name] = function (message) { window.__fleet.alerts.push(name + ': ' + message); };
});
"""


def _which(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@dataclass
class Browser:
    driver: Any  # selenium.webdriver.Chrome

    def open(self, page: Path) -> None:
        """Load ``page`` and wait until its script has drawn it (body[data-ready])."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("browser")  # drop what earlier pages logged
        self.driver.get(page.resolve().as_uri())
        WebDriverWait(self.driver, WAIT_S).until(
            lambda d: d.execute_script("return document.body && document.body.dataset.ready === '1'")
        )

    def wait_for(self, script: str, *args: object) -> Any:
        """Wait until ``script`` (a JS expression body returning a value) is truthy; return it."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_S).until(lambda d: d.execute_script(script, *args))

    def problems(self) -> dict[str, list[str]]:
        """Console errors (SEVERE), CSP violations and alert() calls since the page loaded."""
        logs = [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        recorded = self.driver.execute_script("return window.__fleet || {violations: [], alerts: []}")
        return {
            "console errors": logs,
            "CSP violations": list(recorded["violations"]),
            "alerts": list(recorded["alerts"]),
        }

    def screenshot(self, path: Path) -> Path:
        """A full-page PNG (the window is resized to the page's height first)."""
        height = self.driver.execute_script(
            "return Math.min(document.documentElement.scrollHeight, 3000)"
        )
        self.driver.set_window_size(1400, max(900, int(height)))
        self.driver.execute_script("window.scrollTo(0, 0)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1400, 900)
        return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium, chromedriver = _which(CHROMIUM_NAMES), _which(DRIVER_NAMES)
    if chromium is None or chromedriver is None:
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900", "--disable-extensions", "--no-first-run",
                 "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.set_script_timeout(WAIT_S)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORDER})
        yield Browser(driver)
    finally:
        driver.quit()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $FLEET_TEST_ARTIFACTS (kept after the run) or tmp_path."""
    folder = os.environ.get("FLEET_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
