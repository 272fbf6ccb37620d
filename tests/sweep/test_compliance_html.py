"""compliance.html as built (the browser tests load it in Chromium): one hashed CSP for exactly
its inline blocks, the checks table and score first, identical drift on one line."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from fleet.sweep.drift import diff_matrices
from fleet.sweep.html import render_html
from fleet.sweep.model import Status

from .test_loader_history_writers import matrix


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _page() -> str:
    before = {f"web-{i:02d}": [Status.PASS, Status.PASS] for i in range(64)}
    after = {name: [Status.PASS, Status.FAIL] for name in before}
    after["<img src=x onerror=alert(1)>"] = [Status.UNKNOWN, Status.NA]
    return render_html(matrix("run-2", after), diff_matrices(matrix("run-1", before),
                                                            matrix("run-2", after)), 6)


def test_one_csp_admits_exactly_the_inline_blocks() -> None:
    page = _page()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = {d.split()[0]: d.split()[1:] for d in csp[1].replace("&#39;", "'").split(";") if d.strip()}
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert policy["script-src"] == [_hash(scripts[0])] and policy["style-src"] == [_hash(styles[0])]
    assert policy["default-src"] == ["'none'"] and "unsafe-inline" not in csp[1]
    assert not re.search(r"<[a-z]+[^>]* (style|on[a-z]+)=", page)  # no inline style or handlers


def test_checks_and_score_lead_and_identical_drift_is_one_line() -> None:
    page = _page()
    assert page.index('id="score"') < page.index('id="checks"') < page.index('id="drift"')
    assert page.index('id="drift"') < page.index('id="matrix"')
    assert 'id="verdict">new drift<' in page
    assert '<input type="checkbox" id="group" checked>' in page  # 65 machines: grouped at first
    drift = page[page.index('id="drift"') : page.index('id="matrix-title"')]
    assert drift.count("<li>") == 1 and "<b>64 machines</b>" in drift
    assert "web-00, web-01" in drift and "Machines appeared (1)" in drift
    assert "&lt;img src=x onerror=alert(1)&gt;" in drift and "<img" not in drift
    data = json.loads(page.split('id="fleet-data">')[1].split("</script>")[0])
    assert data["rows"][0][0] == "<img src=x onerror=alert(1)>"  # lowest score first
    assert [c["id"] for c in data["checks"]] == ["tls", "ssh"]  # lowest pass rate first
