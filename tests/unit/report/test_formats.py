from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser

from fleet.report.html import render_html
from fleet.report.junit import render_junit
from fleet.report.markdown import md_cell, md_fence, render_markdown
from fleet.report.recap import recap_text
from fleet.types import JobState

from .records import HOSTILE_NAME, HOSTILE_OUTPUT, job, sample_record


def test_junit_one_case_per_job_with_verdicts() -> None:
    root = ET.fromstring(render_junit(sample_record()).encode())
    assert root.get("tests") == "7" and root.get("failures") == "1"
    assert root.get("errors") == "1" and root.get("skipped") == "1"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 7
    failed = next(c for c in cases if c.get("name") == HOSTILE_NAME)
    failure = failed.find("failure")
    assert failure is not None and "exit code 1" in (failure.get("message") or "")
    assert "E: locked" in (failure.text or "")
    out = failed.findtext("system-out") or ""
    assert "<script>" in out and "\x00" not in out  # escaped by XML, control char replaced
    unreachable = next(c for c in cases if c.get("name") == "web-05")
    assert unreachable.find("error") is not None
    ok = next(c for c in cases if c.get("name") == "web-01")
    assert ok.find("failure") is None and ok.get("time") == "70.000"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(sample_record())
    parser = _Collect()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert tags.count("script") == 1 and "img" not in tags and "link" not in tags
    assert not any("src" in a or "href" in a for _, a in parser.tags)
    assert not any(k.startswith("on") for _, a in parser.tags for k in a)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;out&#x27;)" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # the CSP admits exactly our one script, by hash, and nothing from the network
    csp = next(a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv"))
    digest = base64.b64encode(hashlib.sha256(parser.scripts[0].encode()).digest()).decode()
    assert csp is not None and f"'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_html_structure_failures_first_groups_timeline() -> None:
    page = render_html(sample_record())
    machines = page[page.index('id="machines"') :]
    assert machines.index("web-&lt;img") < machines.index(">web-01<")
    assert machines.index(">web-05<") < machines.index(">web-06<") < machines.index(">web-01<")
    failures = page[page.index('id="failures"') : page.index('id="machines"')]
    assert "web-05" in failures and ">web-01<" not in failures
    groups = page[page.index('id="groups"') : page.index('id="failures-title"')]
    assert groups.count('<details class="group') == 4  # failed out, failed err, 3 identical, empty
    assert groups.index('class="group bad"') < groups.index("<b>3</b> machines")
    assert page.count('class="lane"') == 2  # the skipped wave never started
    tiles = page[page.index('id="tiles"') :]
    assert "<b>4</b>succeeded" in tiles and "<b>1</b>failed" in tiles


def test_html_no_storage_banner() -> None:
    assert "instanceView" in render_html(sample_record(storage=False))
    assert "No storage configured" not in render_html(sample_record())


def test_markdown_escapes_and_fences() -> None:
    text = render_markdown(sample_record())
    assert "web-\\<img src=x onerror=alert\\(1\\)\\>" in text
    assert "\n````text\n" in text  # a ``` inside the output needs a longer fence
    assert text.index("## Needs attention") < text.index("## All machines")
    assert "exit 3: halted by the rollout policy" in text
    assert md_cell("a|b\nc") == "a\\|b c"
    assert md_fence("plain") == "```text\nplain\n```"


def test_recap_worst_first_and_totals() -> None:
    text = recap_text(sample_record())
    lines = text.splitlines()
    assert lines[0].startswith("RECAP · run 20261125-100000-patch")
    assert lines[1].startswith(HOSTILE_NAME) and "failed=1" in lines[1]
    assert lines[2].startswith("web-05") and "unreachable=1" in lines[2]
    assert "7 machines: 4 succeeded, 1 skipped, 1 unreachable, 1 failed" in text
    assert "status: halted (exit 3: halted by the rollout policy)" in text
    assert "47 ARM requests, 2 throttled" in text
    assert HOSTILE_OUTPUT.splitlines()[1] not in text  # never output text


def test_recap_caps_machine_lines_and_neutralises_names() -> None:
    results = tuple(job(f"m{i:03}", JobState.SUCCEEDED, out="ok\n") for i in range(120))
    results += (job("bad\x1b[2Jname", JobState.FAILED, exit_code=2),)
    record = replace(sample_record(), results=results)
    text = recap_text(record, max_machines=10)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[1].startswith("bad?[2Jname")
    assert sum(1 for line in lines if re.match(r"m\d{3} ", line)) == 9
    assert "… and 111 more machines: 111 succeeded" in text


def test_recap_disambiguates_same_names() -> None:
    results = (job("db", JobState.SUCCEEDED, rg="rg-a"), job("db", JobState.SUCCEEDED, rg="rg-b"))
    text = recap_text(replace(sample_record(), results=results))
    assert "rg-a/db" in text and "rg-b/db" in text
