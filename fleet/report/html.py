"""report.html: one self-contained page (inline CSS and JS, no external asset, works offline).

Summary tiles, a timeline of the waves, output groups, failures first, and a filterable table
of every machine. Machine names, tags, reasons and outputs are untrusted: every value goes
through ``html.escape``, and a Content-Security-Policy allows only this page's own script
(by hash) and no network fetches, so even a missed escape could not load or run anything.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from fleet.report.facts import EXIT_MEANINGS, failures_first, row_notes, state_counts
from fleet.report.groups import OutputGroup, output_groups
from fleet.report.text import duration_s, format_duration, parse_time
from fleet.types import JobResult, JobState, RunRecord, WaveRecord

__all__ = ["render_html"]

_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mute:#6e7781;--bg:#f6f8fa;--line:#d0d7de}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328}
header,main{padding:16px 24px}header{background:var(--bg);border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}.meta{color:var(--mute)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;background:var(--mute)}
.s-succeeded{background:var(--ok)}.s-failed,.s-timed_out,.s-error,.s-stuck,.s-halted{background:var(--bad)}
.s-unreachable,.s-canceled,.s-interrupted{background:var(--warn)}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin-top:12px}.tile{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:110px;background:#fff}
.tile b{display:block;font-size:22px}.tile.bad b{color:var(--bad)}.tile.ok b{color:var(--ok)}.tile.warn b{color:var(--warn)}
.note{border-left:4px solid var(--warn);background:#fff8c5;padding:6px 10px;margin:8px 0}
.timeline{position:relative;border:1px solid var(--line);border-radius:6px;padding:6px 8px}
.lane{position:relative;height:22px;margin:4px 0}.lane span.label{position:absolute;left:0;width:70px;color:var(--mute)}
.track{position:absolute;left:80px;right:0;top:3px;height:16px;background:var(--bg)}
.bar{position:absolute;height:16px;border-radius:3px;background:var(--ok);min-width:2px}
.bar.halted,.bar.skipped{background:var(--warn)}.bar.running,.bar.pending{background:var(--mute)}
details.group{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:6px 10px}
details.group.bad{border-left:4px solid var(--bad)}summary{cursor:pointer}
pre{background:var(--bg);padding:8px;overflow:auto;max-height:320px;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);position:sticky;top:0}td.num{text-align:right}.muted{color:var(--mute)}
input#filter{padding:4px 8px;width:320px;margin-bottom:8px}
"""

_JS = (
    "document.getElementById('filter').addEventListener('input',function(e){"
    "var q=e.target.value.toLowerCase();"
    "document.querySelectorAll('#machines tbody tr').forEach(function(r){"
    "r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});"
)


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _badge(state: str) -> str:
    return f'<span class="badge s-{_e(state)}">{_e(state)}</span>'


def _tiles(record: RunRecord) -> str:
    counts = state_counts(record.results)
    failed = sum(n for s, n in counts.items() if JobState(s).is_failure)
    tiles = [
        ("", "jobs", len(record.results)),
        ("ok", "succeeded", counts[JobState.SUCCEEDED.value]),
        ("bad", "failed", failed),
        ("warn", "unreachable", counts[JobState.UNREACHABLE.value]),
        ("warn", "skipped / canceled", counts[JobState.SKIPPED.value] + counts[JobState.CANCELED.value]),
        ("", "duration", format_duration(duration_s(record.started_at, record.finished_at))),
        ("", "ARM requests", record.arm_requests.get("total", sum(record.arm_requests.values()))),
        ("warn" if record.throttled else "", "throttled (429)", record.throttled),
    ]
    cells = "".join(
        f'<div class="tile {cls}"><b>{_e(value)}</b>{_e(label)}</div>' for cls, label, value in tiles
    )
    return f'<div class="tiles" id="tiles">{cells}</div>'


def _timeline(record: RunRecord) -> str:
    waves = [w for w in record.waves if parse_time(w.started_at)]
    if not waves:
        return '<p class="muted">No wave has started.</p>'
    starts = [parse_time(w.started_at) for w in waves]
    ends = [parse_time(w.ended_at) for w in waves]
    t0 = min(t for t in starts if t is not None)
    finish = parse_time(record.finished_at)
    t1 = max([t for t in (*ends, *starts, finish) if t is not None])
    span = max((t1 - t0).total_seconds(), 1e-9)
    lanes = []
    for wave, start, end in zip(waves, starts, ends, strict=True):
        assert start is not None
        left = (start - t0).total_seconds() / span * 100
        width = ((end or t1) - start).total_seconds() / span * 100
        title = _wave_title(wave)
        lanes.append(
            f'<div class="lane"><span class="label">{_wave_name(wave.index)}</span><div class="track">'
            f'<div class="bar {_e(wave.state)}" style="left:{left:.2f}%;width:{max(width, 0.2):.2f}%"'
            f' title="{title}"></div></div></div>'
        )
    return f'<div class="timeline" id="timeline">{"".join(lanes)}</div>'


def _wave_title(wave: WaveRecord) -> str:
    took = format_duration(duration_s(wave.started_at, wave.ended_at))
    return _e(f"{_wave_name(wave.index)}: {wave.machines} machines, {wave.state}, {took}")


def _group(group: OutputGroup) -> str:
    states = ", ".join(f"{s} {n}" for s, n in group.states)
    codes = ", ".join("-" if c is None else str(c) for c in group.exit_codes)
    names = ", ".join(_e(n) for n in group.machine_names)
    excerpt = f"<pre>{_e(group.excerpt)}</pre>" if group.excerpt else '<p class="muted">(empty)</p>'
    cls = "group bad" if group.has_failure else "group"
    return (
        f'<details class="{cls}" id="{_e(group.id)}"{" open" if group.has_failure else ""}>'
        f"<summary><b>{group.count}</b> machine{'s' if group.count != 1 else ''} · step "
        f"{_e(group.step)} · {_e(group.stream)} · {_e(states)}</summary>"
        f'<p class="muted">exit codes {_e(codes)} · {group.size_bytes} bytes'
        f"{' · truncated' if group.truncated else ''} · sha256 {_e(group.sha256[:16])}</p>"
        f"{excerpt}<p>{names}</p></details>"
    )


def _row(result: JobResult) -> str:
    m = result.machine
    reason = "; ".join(p for p in (result.reason or "", *row_notes(result)) if p)
    detail = ""
    if result.output.excerpt or result.error.excerpt:
        detail = (
            "<details><summary>output</summary>"
            + (f"<pre>{_e(result.output.excerpt)}</pre>" if result.output.excerpt else "")
            + (f"<pre class=\"err\">{_e(result.error.excerpt)}</pre>" if result.error.excerpt else "")
            + "</details>"
        )
    exit_code = "-" if result.exit_code is None else result.exit_code
    return (
        f'<tr class="row s-row-{_e(result.state.value)}">'
        f'<td title="{_e(m.resource_id)}">{_e(m.name)}<br><span class="muted">'
        f"{_e(m.subscription_id)} / {_e(m.resource_group)}</span></td>"
        f"<td>{_e(result.step)}{' (rollback)' if result.rollback else ''}</td>"
        f'<td class="num">{result.wave + 1}</td><td>{_badge(result.state.value)}</td>'
        f'<td class="num">{_e(exit_code)}</td>'
        f'<td class="num">{_e(format_duration(duration_s(result.started_at, result.ended_at)))}</td>'
        f'<td class="num">{result.attempts}</td><td class="num">{result.output.size_bytes}</td>'
        f"<td>{_e(reason)}{detail}</td></tr>"
    )


_THEAD = (
    "<thead><tr><th>machine</th><th>step</th><th>wave</th><th>state</th><th>exit</th>"
    "<th>duration</th><th>attempts</th><th>bytes</th><th>reason / output</th></tr></thead>"
)


def render_html(record: RunRecord) -> str:
    script_hash = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{script_hash}'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    ordered = failures_first(record.results)
    failures = [r for r in ordered if r.state is not JobState.SUCCEEDED]
    groups = output_groups(record.results)
    meaning = EXIT_MEANINGS.get(record.exit_code, "")
    notes = []
    if not record.storage:
        notes.append("No storage configured: only instanceView's last 4 KB of each output was available.")
    notes.extend(record.notes)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>fleet run {_e(record.run_id)}: {_e(record.status)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>fleet run {_e(record.run_id)} {_badge(record.status)}</h1>",
        f'<div class="meta">playbook <b>{_e(record.playbook_name)}</b> ({_e(record.playbook_path)})'
        f" · started {_e(record.started_at or '-')} · finished {_e(record.finished_at or '-')}"
        f" · exit {record.exit_code}{_e(': ' + meaning if meaning else '')}</div>",
        _tiles(record),
        "</header><main>",
        *(f'<div class="note">{_e(n)}</div>' for n in notes),
        "<h2>Waves</h2>",
        _timeline(record),
        f'<h2 id="groups-title">Output groups ({len(groups)})</h2>',
        '<section id="groups">',
        *(_group(g) for g in groups),
        "</section>",
        f'<h2 id="failures-title">Failures and other non-successes ({len(failures)})</h2>',
    ]
    if failures:
        parts.append(f'<table id="failures">{_THEAD}<tbody>{"".join(_row(r) for r in failures)}</tbody></table>')
    else:
        parts.append('<p class="muted">None: every job succeeded.</p>')
    parts += [
        f"<h2>All machines ({len(ordered)})</h2>",
        '<input id="filter" type="search" placeholder="filter rows (name, state, reason, output…)">',
        f'<table id="machines">{_THEAD}<tbody>{"".join(_row(r) for r in ordered)}</tbody></table>',
        f"</main><script>{_JS}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _wave_name(index: int) -> str:
    """Waves are numbered from 1 for people (the JSON keeps the 0-based index)."""
    return "rollback" if index < 0 else f"wave {index + 1}"
