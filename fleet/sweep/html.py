"""The compliance matrix as one self-contained HTML page: no external assets, every value
escaped (machine names, tags and check output are untrusted), failing cells first, per-check
pass rate, per-machine score, drift since the previous sweep, and columns sortable by a click."""

from __future__ import annotations

from html import escape

from fleet.sweep.drift import Change, Drift
from fleet.sweep.matrix import MachineRow, Matrix
from fleet.sweep.model import Status

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}
td.pass{background:#d8f5d8}td.fail{background:#f8c8c8;font-weight:600}
td.error{background:#fde7b0}td.unknown{background:#e4e4e4}td.na{color:#999}
.sev-critical,.sev-high{color:#a00}.muted{color:#777}.num{text-align:right}
.summary span{margin-right:1.2em}th small{font-weight:normal;display:block}
"""

# Sort by a column: numeric when the cells carry data-sort numbers, else by text.
_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('data-dir') !== 'asc';
    th.setAttribute('data-dir', asc ? 'asc' : 'desc');
    rows.sort(function(a, b){
      var x = a.cells[col], y = b.cells[col];
      var p = x.getAttribute('data-sort'), q = y.getAttribute('data-sort');
      var r = (p !== null && q !== null) ? (parseFloat(p) - parseFloat(q))
                                         : x.textContent.localeCompare(y.textContent);
      return asc ? r : -r;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""

# Cell order when sorting a check column: worst first.
_RANK = {Status.FAIL: 0, Status.ERROR: 1, Status.UNKNOWN: 2, Status.PASS: 3, Status.NA: 4}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _rate_key(rate: float | None) -> float:
    return 2.0 if rate is None else rate


def _row_key(row: MachineRow) -> tuple[float, int, str]:
    score = row.score
    return (2.0 if score is None else score, -row.count(Status.FAIL), row.name.lower())


def _changes(title: str, changes: tuple[Change, ...]) -> str:
    if not changes:
        return ""
    items = "".join(
        f"<li>{escape(c.machine)} · <b>{escape(c.check_id)}</b>: {escape(c.before.value)} → "
        f"{escape(c.after.value)} <span class=muted>{escape(c.detail)}</span></li>"
        for c in changes)
    return f"<h3>{escape(title)} ({len(changes)})</h3><ul>{items}</ul>"


def _names(title: str, names: tuple[str, ...]) -> str:
    if not names:
        return ""
    return f"<h3>{escape(title)} ({len(names)})</h3><p>{escape(', '.join(names))}</p>"


def _drift(drift: Drift | None) -> str:
    if drift is None:
        return "<h2>Drift</h2><p class=muted>No earlier sweep to compare with.</p>"
    if drift.empty:
        return (f"<h2>Drift since {escape(drift.before_run)}</h2><p>Nothing changed.</p>")
    return "".join([
        f"<h2>Drift since {escape(drift.before_run)}</h2>",
        _changes("Newly failing", drift.newly_failing),
        _changes("Newly passing", drift.newly_passing),
        _changes("Other changes", drift.other),
        _names("Machines appeared", drift.machines_appeared),
        _names("Machines vanished", drift.machines_vanished),
        _names("Checks added", drift.checks_added),
        _names("Checks removed", drift.checks_removed),
    ])


def render_html(matrix: Matrix, drift: Drift | None) -> str:
    rates = {c.id: matrix.pass_rate(c.id) for c in matrix.checks}
    # Columns: lowest pass rate first; rows: lowest score first, so failures are top left.
    order = sorted(range(len(matrix.checks)),
                   key=lambda i: (_rate_key(rates[matrix.checks[i].id]), i))
    head = "".join(
        f"<th title='{escape(matrix.checks[i].title)}: {escape(matrix.checks[i].rationale)}'>"
        f"{escape(matrix.checks[i].id)}<small class='sev-{escape(matrix.checks[i].severity)}'>"
        f"{escape(matrix.checks[i].severity)} · {_pct(rates[matrix.checks[i].id])}</small></th>"
        for i in order)
    body = []
    for row in sorted(matrix.machines, key=_row_key):
        cells = []
        for i in order:
            cell = row.cells[i]
            tip = " — ".join(p for p in (cell.detail, cell.value) if p)
            css = "na" if cell.status == Status.NA else cell.status.value
            cells.append(f"<td class={css} data-sort={_RANK[cell.status]} title='{escape(tip)}'>"
                         f"{escape(cell.status.value)}</td>")
        score = row.score
        notes = f" <span class=muted title='{escape('; '.join(row.notes))}'>⚠</span>" \
            if row.notes else ""
        body.append(f"<tr><td>{escape(row.name)}{notes}</td><td>{escape(row.os_type)}</td>"
                    f"<td class=num data-sort={-1 if score is None else score:.4f}>"
                    f"{_pct(score)}</td>{''.join(cells)}</tr>")
    counts = matrix.counts()
    summary = "".join(f"<span>{escape(s.value)}: <b>{counts.get(s.value, 0)}</b></span>"
                      for s in Status)
    checks = "".join(
        f"<tr><td>{escape(c.id)}</td><td>{escape(c.title)}</td>"
        f"<td class='sev-{escape(c.severity)}'>{escape(c.severity)}</td>"
        f"<td class=num data-sort={-1 if rates[c.id] is None else rates[c.id]:.4f}>"
        f"{_pct(rates[c.id])}</td><td>{escape(c.rationale)}</td></tr>"
        for c in sorted(matrix.checks, key=lambda c: _rate_key(rates[c.id])))
    return f"""<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Compliance: {escape(matrix.playbook)} ({escape(matrix.run_id)})</title>
<style>{_CSS}</style></head><body>
<h1>Compliance: {escape(matrix.playbook)}</h1>
<p class=muted>run {escape(matrix.run_id)} · {escape(matrix.started_at or '?')} → {escape(matrix.finished_at or '?')} · {len(matrix.machines)} machines x {len(matrix.checks)} checks</p>
<p class=summary>{summary}</p>
{_drift(drift)}
<h2>Matrix</h2>
<p class=muted>Click a column to sort. Hover a cell for its detail and value.</p>
<table class=sortable id=matrix><thead><tr><th>machine</th><th>os</th><th>score</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
<h2>Checks</h2>
<table class=sortable id=checks><thead><tr><th>id</th><th>title</th><th>severity</th><th>pass rate</th><th>rationale</th></tr></thead>
<tbody>{checks}</tbody></table>
<script>{_JS}</script>
</body></html>
"""
