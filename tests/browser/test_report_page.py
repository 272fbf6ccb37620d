"""report.html in a real headless Chromium, as a person sees it: from a real run (simulator,
real bash, Azurite), then the same run grown to 10,000 rows by the report's own loader."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from fleet.report import write_reports
from fleet.types import JobState
from fleet_sim.azurite import Azurite
from tests.browser.conftest import Browser
from tests.browser.runs import END_SCRIPT, IMG, real_run, scaled


@pytest.fixture(scope="module")
def run_dir(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report-page") / "run"
    record = asyncio.run(real_run(azurite, folder))
    states = {r.state for r in record.results}
    assert {JobState.SUCCEEDED, JobState.FAILED, JobState.UNREACHABLE} <= states, states
    return folder


def _rows(browser: Browser) -> list[str]:
    return list(browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#machines tbody tr.row'))"
        ".map(function (r) { return r.cells[0].firstChild.textContent; })"))


def _type(browser: Browser, selector: str, text: str) -> None:
    box = browser.driver.find_element("css selector", selector)
    box.clear()
    box.send_keys(text)


def test_report_of_a_real_run(browser: Browser, run_dir: Path, artifacts: Path) -> None:
    page = run_dir / "report.html"
    browser.open(page)
    driver = browser.driver
    total = len(_rows(browser))
    assert total == int(re.search(r"(\d+) jobs", driver.find_element("id", "summary").text)[1])
    # The state filter: the tiles' counts are the rows they select.
    for state in ("failed", "unreachable", "succeeded"):
        tile = driver.find_element("css selector", f'button.tile[data-filter="{state}"]')
        expected = int(tile.find_element("tag name", "b").text)
        tile.click()
        browser.wait_for(
            "return document.querySelectorAll('#machines tbody tr.row').length === arguments[0]"
            " && document.getElementById('state').value === arguments[1]", expected, state)
        badges = driver.execute_script(
            "return Array.from(document.querySelectorAll('#machines tbody tr.row .badge'))"
            ".map(function (b) { return b.textContent; })")
        assert set(badges) == {state} and expected > 0
    driver.find_element("css selector", 'button.tile[data-filter="all"]').click()
    browser.wait_for("return document.querySelectorAll('#machines tbody tr.row').length === arguments[0]",
                     total)
    # The text filter: one machine by name, then nothing, then everything again.
    name = _rows(browser)[-1]
    _type(browser, "#filter", name)
    browser.wait_for("return document.querySelectorAll('#machines tbody tr.row').length === 1")
    assert _rows(browser) == [name]
    _type(browser, "#filter", "no-such-machine-anywhere")
    browser.wait_for("return document.querySelectorAll('#machines tbody tr.row').length === 0")
    assert "no row matches" in driver.find_element("id", "count").text
    # Filtering by output text finds the machines whose (real) output printed the tag.
    _type(browser, "#filter", "onerror=alert(1)")
    printed = browser.wait_for(
        "var n = document.querySelectorAll('#machines tbody tr.row').length; return n > 0 && n")
    assert printed < total
    # The hostile output, opened, is text on the screen: no element made of it, no alert.
    driver.find_element("css selector", "#machines tbody tr.row button.link").click()
    shown = browser.wait_for(
        "var p = document.querySelector('#machines tr.detail pre.out'); return p && p.textContent")
    assert IMG in shown and END_SCRIPT in shown
    assert driver.execute_script("return document.querySelectorAll('img, iframe, object').length") == 0
    assert driver.execute_script("return document.scripts.length") == 2
    browser.screenshot(artifacts / "report.png")
    assert browser.problems() == {"console errors": [], "CSP violations": [], "alerts": []}


def test_report_of_10000_rows_is_data_not_markup(
    browser: Browser, run_dir: Path, artifacts: Path, tmp_path: Path
) -> None:
    record = scaled(run_dir, 10_000)
    written = write_reports(tmp_path, record, formats=["html"])["html"]
    size = written.stat().st_size
    assert size < 1_500_000, f"report.html of 10,000 rows is {size:,} bytes"
    assert written.read_text().count("<tr") == 1  # the header row; the rows are data
    browser.open(written)
    driver = browser.driver
    assert len(_rows(browser)) == 100  # one page
    assert "of 10000" in driver.find_element("id", "count").text
    driver.find_element("id", "next").click()
    browser.wait_for("return document.getElementById('count').textContent.indexOf('rows 101\u2013200') === 0")
    _type(browser, "#filter", "rg-07")
    browser.wait_for("return document.getElementById('count').textContent.indexOf('of 250 ') > 0")
    assert len(_rows(browser)) == 100
    driver.find_element("css selector", 'button.tile[data-filter="failed"]').click()
    failing = browser.wait_for(
        "var t = document.getElementById('count').textContent; return t.indexOf('rows 1\u2013') === 0 && t")
    assert "(10000 in all)" in failing
    browser.screenshot(artifacts / "report-10000.png")
    assert browser.problems() == {"console errors": [], "CSP violations": [], "alerts": []}
