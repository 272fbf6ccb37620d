"""report.html in a real headless Chromium, as a person sees it: from a real run (simulator,
real bash, Azurite), then the same run grown to 10,000 rows by the report's own loader."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from fleet.report import write_reports
from fleet.report.facts import failures_first
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


HOSTILE_MACHINE = "web-</script><img src=x onerror=alert(3)>"


def _drawn(browser: Browser) -> int:
    return int(browser.driver.execute_script(
        "return document.querySelectorAll('#machines tbody tr').length"))


def test_report_of_10000_rows_is_data_not_markup(
    browser: Browser, run_dir: Path, artifacts: Path, tmp_path: Path
) -> None:
    record = scaled(run_dir, 10_000)
    hostile = record.results[5_000]
    results = list(record.results)
    results[5_000] = dataclasses.replace(
        hostile, machine=dataclasses.replace(hostile.machine, name=HOSTILE_MACHINE))
    record = dataclasses.replace(record, results=tuple(results))
    last_name = failures_first(record.results)[-1].machine.name
    written = write_reports(tmp_path, record, formats=["html"])["html"]
    size = written.stat().st_size
    assert size < 1_500_000, f"report.html of 10,000 rows is {size:,} bytes"
    text = written.read_text()
    assert text.count("<tr") == 1  # the header row; the rows are data
    assert "<img" not in text and text.count("</script>") == 2
    browser.open(written)
    driver = browser.driver
    # A virtual list: a window of rows in the DOM, however many rows there are.
    shown = _rows(browser)
    assert 0 < len(shown) < 100 and _drawn(browser) < 100
    assert driver.find_element("id", "count").text == "10000 rows"
    # Scrolled to the end, the last machine is drawn, and still only a window of rows.
    driver.execute_script("var v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight;")
    browser.wait_for("var r = document.querySelectorAll('#machines tbody tr.row');"
                     " return r.length > 0 && r[r.length - 1].cells[0].firstChild.textContent"
                     " === arguments[0]", last_name)
    assert _drawn(browser) < 100
    # The filter finds one machine among 10,000; its hostile name is text, not markup.
    _type(browser, "#filter", "onerror=alert(3)")
    browser.wait_for("return document.querySelectorAll('#machines tbody tr.row').length === 1")
    assert _rows(browser) == [HOSTILE_MACHINE]
    assert driver.find_element("id", "count").text == "1 of 10000 rows match"
    assert driver.execute_script("return document.querySelectorAll('img, iframe, object').length") == 0
    assert driver.execute_script("return document.scripts.length") == 2
    _type(browser, "#filter", "rg-07")
    browser.wait_for("return document.getElementById('count').textContent === '250 of 10000 rows match'")
    assert 0 < len(_rows(browser)) < 100
    driver.find_element("css selector", 'button.tile[data-filter="failed"]').click()
    failing = browser.wait_for(
        "var t = document.getElementById('count').textContent;"
        " return document.getElementById('state').value === 'failed' && t")
    assert failing.endswith("of 10000 rows match")
    browser.screenshot(artifacts / "report-10000.png")
    assert browser.problems() == {"console errors": [], "CSP violations": [], "alerts": []}
