from __future__ import annotations

import base64
import hashlib
import json
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
    """Tags with their attributes, and the text of each <script> and <style> element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: list[tuple[str, dict[str, str | None], str]] = []
        self._open: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = (tag, dict(attrs)) if tag in ("script", "style") else None
        if self._open:
            self.blocks.append((tag, dict(attrs), ""))

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            tag, attrs, text = self.blocks[-1]
            self.blocks[-1] = (tag, attrs, text + data)


def _parse(page: str) -> _Collect:
    parser = _Collect()
    parser.feed(page)
    return parser


def _data(page: str) -> dict[str, object]:
    parser = _parse(page)
    found = [text for tag, attrs, text in parser.blocks if attrs.get("type") == "application/json"]
    assert len(found) == 1
    doc = json.loads(found[0])
    assert isinstance(doc, dict)
    return doc


def _csp_sources(page: str) -> dict[str, list[str]]:
    parser = _parse(page)
    csp = next(a["content"] for t, a in parser.tags if t == "meta" and a.get("http-equiv"))
    assert csp is not None
    return {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(sample_record())
    parser = _parse(page)
    tags = [t for t, _ in parser.tags]
    assert tags.count("script") == 2 and "img" not in tags and "link" not in tags
    assert not any("src" in a or "href" in a for _, a in parser.tags)
    assert not any(k.startswith("on") or k == "style" for _, a in parser.tags for k in a)
    # Untrusted text never appears as markup: not in the page, and escaped in the JSON block.
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "<b>patch &lt;web&gt;</b>" in page  # values in the markup are escaped by Jinja
    data = _data(page)
    assert HOSTILE_NAME in [row[0] for row in data["rows"]]  # type: ignore[union-attr]
    assert any(HOSTILE_OUTPUT.strip("\n") in g["excerpt"] for g in data["groups"])  # type: ignore[union-attr,index]


def test_csp_admits_exactly_the_inline_blocks_by_hash() -> None:
    for page in (render_html(sample_record()), render_html(sample_record(storage=False))):
        sources = _csp_sources(page)
        blocks = _parse(page).blocks
        scripts = [text for tag, attrs, text in blocks if tag == "script" and not attrs.get("type")]
        styles = [text for tag, _, text in blocks if tag == "style"]
        assert sources["default-src"] == ["'none'"]
        assert sources["script-src"] == [_hash(s) for s in scripts] and len(scripts) == 1
        assert sources["style-src"] == [_hash(s) for s in styles] and len(styles) == 1
        assert "'unsafe-inline'" not in page.split("</head>")[0]


def test_html_data_failures_first_groups_timeline() -> None:
    page = render_html(sample_record())
    data = _data(page)
    strings = data["strings"]
    names = [row[0] for row in data["rows"]]  # type: ignore[union-attr]
    assert names.index(HOSTILE_NAME) < names.index("web-01")
    assert names.index("web-05") < names.index("web-06") < names.index("web-01")
    groups = data["groups"]
    assert len(groups) == 4  # type: ignore[arg-type]  # failed out, failed err, 3 identical, empty
    assert groups[0]["failure"] and [g["count"] for g in groups][2] == 3  # type: ignore[index]
    # rows point at their output group instead of repeating the output
    fields = data["fields"]
    out = fields.index("output_group")  # type: ignore[union-attr]
    grouped = [row for row in data["rows"] if row[out] == 2]  # type: ignore[union-attr,index]
    assert sorted(r[0] for r in grouped) == ["web-01", "web-02", "web-03"]
    assert "patched 3 packages" not in strings  # type: ignore[operator]
    assert page.count('class="lane"') == 2  # the skipped wave never started
    tiles = page[page.index('id="tiles"') :]
    assert "<b>4</b>succeeded" in tiles and "<b>1</b>failed" in tiles


def test_tiles_summary_and_filters_come_from_the_same_counts() -> None:
    canceled = tuple(
        job(f"web-{i:02d}", JobState.CANCELED, reason="canceled by the operator") for i in range(10)
    )
    record = replace(sample_record(), results=canceled, status="interrupted", exit_code=130)
    page = render_html(record)
    tiles = page[page.index('id="tiles"') : page.index("</header>")]
    assert "<b>0</b>failed" in tiles and "<b>10</b>canceled" in tiles
    assert "10 canceled" in page and "failed" not in page[page.index('id="summary"') :].split("</p>")[0]
    assert '<option value="canceled">canceled (10)</option>' in page
    assert _data(page)["filters"]["failed"] == ["failed", "timed_out", "stuck", "error", "unknown"]  # type: ignore[index]


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


def test_recap_lists_only_machines_that_did_not_succeed_with_reasons() -> None:
    text = recap_text(sample_record())
    lines = text.splitlines()
    assert lines[0].startswith("RECAP · run 20261125-100000-patch") and "*" not in lines[0]
    assert lines[1].startswith(f"  {HOSTILE_NAME[:27]}") and " failed " in lines[1]
    assert "exit code 1 not in [0]" in lines[1]
    assert lines[2].startswith("  web-05") and "unreachable  machine status Disconnected" in lines[2]
    assert "web-01" not in text and "web-07" not in text  # succeeded: not listed
    assert "7 machines: 4 succeeded, 1 skipped, 1 unreachable, 1 failed" in text
    reasons = text[text.index("top reasons:"):]
    assert "1 x machine status Disconnected" in reasons and "1 x exit code 1 not in [0]" in reasons
    assert "status: halted (exit 3: halted by the rollout policy)" in text
    assert "47 ARM requests, 2 throttled" in text
    assert HOSTILE_OUTPUT.splitlines()[1] not in text  # never output text
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "\x1b" not in text


def test_recap_groups_reasons_and_caps_machine_lines() -> None:
    results = tuple(job(f"m{i:03}", JobState.SUCCEEDED, out="ok\n") for i in range(120))
    results += tuple(job(f"u{i:03}", JobState.UNREACHABLE, reason="machine status is Disconnected")
                     for i in range(30))
    results += (job("bad\x1b[2Jname", JobState.FAILED, exit_code=2),)
    record = replace(sample_record(), results=results)
    text = recap_text(record, max_machines=10)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[1].startswith("  bad?[2Jname") and "exit code 2" in lines[1]
    assert sum(1 for line in lines if re.match(r"  u\d{3} ", line)) == 9
    assert "… and 21 more: 21 unreachable" in text
    assert "151 machines: 120 succeeded, 30 unreachable, 1 failed" in text
    assert "   30 x machine status is Disconnected" in text
    assert all(len(line) <= 80 for line in lines)


def test_recap_plurals_colour_and_canceled_apart() -> None:
    results = (job("db", JobState.CANCELED, reason="canceled by the operator"),)
    text = recap_text(replace(sample_record(), results=results, arm_requests={"total": 1}))
    assert "1 machine: 1 canceled" in text and "skipped" not in text.split("top reasons")[0]
    assert "1 ARM request," in text or text.rstrip().endswith("1 ARM request, 2 throttled")
    painted = recap_text(replace(sample_record(), results=results), colour=True)
    assert "\x1b[35mcanceled\x1b[0m" in painted


def test_recap_disambiguates_same_names() -> None:
    results = (job("db", JobState.FAILED, rg="rg-a"), job("db", JobState.FAILED, rg="rg-b"))
    text = recap_text(replace(sample_record(), results=results))
    assert "rg-a/db" in text and "rg-b/db" in text


def test_row_notes_say_no_storage_only_when_true() -> None:
    from fleet.engine.collect import VIEW_TAIL_NOTE
    from fleet.report.facts import NO_STORAGE_NOTE, row_notes
    from fleet.types import StreamCapture

    with_storage = job("web-01", JobState.SUCCEEDED, out="ok\n")
    # storage used, stderr known empty from the instance view: the engine records it as the
    # (empty) blob; even an old journal's empty instance_view stderr is no "no storage"
    old = replace(with_storage, error=StreamCapture(source="instance_view", size_bytes=0))
    assert NO_STORAGE_NOTE not in row_notes(with_storage)
    assert NO_STORAGE_NOTE not in row_notes(old)
    # storage used, the output blob stayed empty and the instanceView's tail was kept (seen
    # in a 10,000-machine run's report.json): that row had storage, so no "no storage" note
    kept_tail = replace(
        with_storage,
        output=StreamCapture(source="instance_view", size_bytes=140),
        reason=VIEW_TAIL_NOTE,
    )
    assert NO_STORAGE_NOTE not in row_notes(kept_tail)
    # without storage the same capture is the "no storage" case
    assert NO_STORAGE_NOTE in row_notes(replace(kept_tail, reason=None))
    without = job("web-01", JobState.SUCCEEDED, out="ok\n", source="instance_view")
    assert NO_STORAGE_NOTE in row_notes(without)
