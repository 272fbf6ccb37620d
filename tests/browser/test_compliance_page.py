"""compliance.html in a real headless Chromium, from two real sweeps (simulator with real bash,
Azurite, history): checks and score first, identical drift grouped, a filterable matrix whose
header and machine column stay in view, check output that looks like HTML shown as text."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fleet.engine.sweep import EXIT_DRIFT, SweepOutcome
from fleet_sim.azurite import Azurite
from tests.browser.conftest import Browser
from tests.browser.runs import END_SCRIPT, IMG
from tests.browser.sweeps import TURNED_OFF, two_sweeps


@pytest.fixture(scope="module")
def sweep(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> tuple[SweepOutcome, Path]:
    work = tmp_path_factory.mktemp("compliance-page")
    outcome = asyncio.run(two_sweeps(azurite, work))
    assert outcome.exit_code == EXIT_DRIFT
    return outcome, work / "sweep-b" / "compliance.html"


def _matrix_names(browser: Browser) -> list[str]:
    return list(browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#matrix tbody tr'))"
        ".map(function (r) { return r.cells[0].firstChild.textContent; })"))


def _top(browser: Browser, element_id: str) -> float:
    return float(browser.driver.execute_script(
        "return document.getElementById(arguments[0]).getBoundingClientRect().top", element_id))


def test_compliance_page_of_real_sweeps(
    browser: Browser, sweep: tuple[SweepOutcome, Path], artifacts: Path
) -> None:
    outcome, page = sweep
    browser.open(page)
    driver = browser.driver
    machines = len(outcome.matrix.machines)
    # What leads: the verdict, the score and the checks table, worst check first, on screen 1.
    assert driver.find_element("id", "verdict").text == "new drift"
    assert driver.find_element("id", "score").text.splitlines()[0].endswith("%")
    first_check = driver.find_element("css selector", "#checks tbody tr td b").text
    assert first_check == "banner-is-plain"  # 0 % pass, critical
    assert _top(browser, "checks") < driver.execute_script("return window.innerHeight")
    assert _top(browser, "checks") < _top(browser, "drift") < _top(browser, "matrix")
    # Identical drift is one line: "N machines", the names folded inside.
    lines = driver.find_elements("css selector", "#drift ul.drift > li")
    assert len(lines) == 1 and f"on {TURNED_OFF} machines" in lines[0].text
    names = driver.find_element("css selector", "#drift details p.names")
    assert not names.is_displayed()
    lines[0].find_element("tag name", "summary").click()
    browser.wait_for("return document.querySelector('#drift details').open")
    assert len(names.text.split(", ")) == TURNED_OFF
    # The matrix: every machine, names on one line, filters that change the rows.
    assert len(_matrix_names(browser)) == machines
    heights = driver.execute_script(
        "return Array.from(document.querySelectorAll('#matrix td.machine'))"
        ".map(function (td) { return td.getBoundingClientRect().height; })")
    assert max(heights) < 2 * min(heights)  # no machine name wrapped onto several lines
    driver.find_element("css selector", 'button.show[data-check="baseline-tag"]').click()
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr').length === arguments[0]",
                     TURNED_OFF)
    name = _matrix_names(browser)[0]
    box = driver.find_element("id", "filter")
    box.send_keys(name)
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr').length === 1")
    box.clear()
    box.send_keys("no-such-machine")
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr').length === 0")
    box.clear()
    driver.execute_script("var s = document.getElementById('status'); s.value = 'any';"
                          "s.dispatchEvent(new Event('change'));"
                          "var c = document.getElementById('check'); c.value = '';"
                          "c.dispatchEvent(new Event('change'));")
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr').length === arguments[0]",
                     machines)
    # Machines with identical results in every check: one row each, "N machines", expandable.
    patterns = {tuple(c.status for c in row.cells) for row in outcome.matrix.machines}
    driver.find_element("id", "group").click()
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr').length === arguments[0]",
                     len(patterns))
    assert f"{machines} machines in {len(patterns)} rows" in driver.find_element("id", "count").text
    toggle = driver.find_element("css selector", "#matrix tr.group button.link")
    size = int(toggle.text.split()[1])
    toggle.click()
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr.member').length === arguments[0]",
                     size)
    driver.find_element("css selector", "#matrix tr.group td.cell.fail").click()
    shown = browser.wait_for(
        "var d = document.getElementById('cell-detail'); return !d.hidden && d.textContent")
    assert f"{size} machines" in shown
    browser.screenshot(artifacts / "compliance-grouped.png")
    driver.find_element("id", "group").click()
    browser.wait_for("return document.querySelectorAll('#matrix tbody tr').length === arguments[0]",
                     machines)
    # The header row and the machine column stay in view when the matrix box scrolls (a short
    # box, as a long fleet would make it).
    driver.execute_script("var b = document.querySelector('.matrix-box'); b.style.maxHeight = '160px';"
                          "b.style.maxWidth = '420px'; b.scrollTop = b.scrollHeight;"
                          "b.scrollLeft = b.scrollWidth;")
    stuck = browser.wait_for(
        "var b = document.querySelector('.matrix-box').getBoundingClientRect();"
        "var h = document.querySelector('#matrix thead th').getBoundingClientRect();"
        "var m = document.querySelector('#matrix tbody td.machine').getBoundingClientRect();"
        "var box = document.querySelector('.matrix-box');"
        "return box.scrollTop > 0 && box.scrollLeft > 0 && Math.abs(h.top - b.top) < 3"
        " && Math.abs(m.left - b.left) < 3")
    assert stuck
    driver.execute_script("var b = document.querySelector('.matrix-box'); b.style.maxHeight = '';"
                          "b.style.maxWidth = ''; b.scrollTop = 0; b.scrollLeft = 0;")
    # A cell's detail: the check's HTML-looking output is text on the screen.
    driver.find_element("css selector", "#matrix td.cell.fail").click()
    shown = browser.wait_for(
        "var p = document.querySelector('#cell-detail pre.value'); return p && p.textContent")
    assert IMG in shown or END_SCRIPT in shown
    assert IMG in driver.find_element("id", "checks").text  # a rationale with markup, as text
    assert driver.execute_script("return document.querySelectorAll('img, iframe, object').length") == 0
    assert driver.execute_script("return document.scripts.length") == 2
    browser.screenshot(artifacts / "compliance.png")
    assert browser.problems() == {"console errors": [], "CSP violations": [], "alerts": []}
