"use strict";
(function () {
  // Every value reaches the page as a text node or a property (never innerHTML): check output
  // that looks like HTML stays text.
  var data = JSON.parse(document.getElementById("fleet-data").textContent);
  var S = data.strings, ST = data.statuses, checks = data.checks, rows = data.rows;
  var PAGE = 100, page = 0, selected = null;
  var CSS = {"pass": "pass", "fail": "fail", "error": "error", "unknown": "unknown", "n/a": "na"};

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function str(i) { return i >= 0 ? S[i] : ""; }

  // -- the checks table: sort by a click on a heading ------------------------------------
  document.querySelectorAll("table.sortable th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = th.closest("table").tBodies[0];
      var list = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute("data-dir") !== "asc";
      th.setAttribute("data-dir", asc ? "asc" : "desc");
      list.sort(function (a, b) {
        var p = a.cells[col].getAttribute("data-sort"), q = b.cells[col].getAttribute("data-sort");
        var x = p !== null ? p : a.cells[col].textContent, y = q !== null ? q : b.cells[col].textContent;
        var r = (!isNaN(parseFloat(x)) && !isNaN(parseFloat(y))) ? parseFloat(x) - parseFloat(y)
          : String(x).localeCompare(String(y));
        return asc ? r : -r;
      });
      list.forEach(function (r) { body.appendChild(r); });
    });
  });

  // -- the matrix -------------------------------------------------------------------------
  var filterBox = document.getElementById("filter"), checkBox = document.getElementById("check");
  var statusBox = document.getElementById("status"), count = document.getElementById("count");
  var head = document.querySelector("#matrix thead"), body = document.querySelector("#matrix tbody");
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var detail = document.getElementById("cell-detail");

  function status(row, col) { return ST[row[4][col * 3]]; }
  function drawHead() {
    var tr = el("tr");
    ["machine", "os", "score"].forEach(function (name, i) {
      tr.appendChild(el("th", i === 0 ? "machine" : (i === 2 ? "num" : null), name));
    });
    checks.forEach(function (c) {
      var th = el("th", "check", c.id);
      th.title = c.title + " (" + c.severity + ")";
      th.appendChild(el("small", "sev-" + c.severity, c.severity + " · " + c.rate));
      tr.appendChild(th);
    });
    head.appendChild(tr);
  }
  function matches(row) {
    var q = filterBox.value.trim().toLowerCase();
    if (q && (row[0] + " " + str(row[1])).toLowerCase().indexOf(q) < 0) { return false; }
    var want = statusBox.value;
    if (want === "any") { return true; }
    var cols = [];
    if (checkBox.value) {
      cols = [checks.map(function (c) { return c.id; }).indexOf(checkBox.value)];
    } else {
      for (var c = 0; c < checks.length; c++) { cols.push(c); }
    }
    var seen = cols.map(function (c) { return status(row, c); });
    if (want === "error") {
      return seen.some(function (s) { return s === "error" || s === "unknown"; });
    }
    if (want === "pass") {
      var applicable = seen.filter(function (s) { return s !== "n/a"; });
      return applicable.length > 0 && applicable.every(function (s) { return s === "pass"; });
    }
    return seen.indexOf(want) >= 0;
  }
  function showDetail(row, col, td) {
    if (selected) { selected.classList.remove("selected"); }
    selected = td;
    td.classList.add("selected");
    var base = col * 3, c = checks[col];
    detail.textContent = "";
    var title = el("p");
    title.appendChild(el("b", null, row[0]));
    title.appendChild(document.createTextNode(" · " + c.id + " (" + c.title + "): "));
    title.appendChild(el("span", "badge s-" + CSS[ST[row[4][base]]], ST[row[4][base]]));
    detail.appendChild(title);
    if (str(row[4][base + 1])) { detail.appendChild(el("p", null, str(row[4][base + 1]))); }
    if (str(row[4][base + 2])) { detail.appendChild(el("pre", "value", str(row[4][base + 2]))); }
    detail.hidden = false;
  }
  function rowNode(row) {
    var tr = el("tr"), name = el("td", "machine", row[0]);
    if (row[3] >= 0) { name.appendChild(el("span", "muted", " ⚠")); name.title = str(row[3]); }
    tr.appendChild(name);
    tr.appendChild(el("td", null, str(row[1])));
    tr.appendChild(el("td", "num", row[2] === null ? "-" : Math.round(row[2] * 100) + "%"));
    checks.forEach(function (c, col) {
      var s = status(row, col), td = el("td", "cell " + CSS[s], s);
      var tip = [str(row[4][col * 3 + 1]), str(row[4][col * 3 + 2])].filter(Boolean).join(" — ");
      if (tip) { td.title = tip; }
      td.addEventListener("click", function () { showDetail(row, col, td); });
      tr.appendChild(td);
    });
    return tr;
  }
  // Machines with the same result in every check read as one row: "48 machines".
  var groupBox = document.getElementById("group"), expanded = {};
  function pattern(row) {
    var key = [];
    for (var c = 0; c < checks.length; c++) { key.push(row[4][c * 3]); }
    return key.join(",");
  }
  function groupsOf(picked) {
    var byKey = {}, out = [];
    picked.forEach(function (row) {
      var key = pattern(row);
      if (!byKey[key]) { byKey[key] = {key: key, rows: []}; out.push(byKey[key]); }
      byKey[key].rows.push(row);
    });
    return out;
  }
  function groupDetail(group, col, td) {
    if (selected) { selected.classList.remove("selected"); }
    selected = td;
    td.classList.add("selected");
    var c = checks[col], seen = {}, order = [];
    group.rows.forEach(function (row) {
      var text = [str(row[4][col * 3 + 1]), str(row[4][col * 3 + 2])].filter(Boolean).join(" — ");
      if (!(text in seen)) { seen[text] = 0; order.push(text); }
      seen[text] += 1;
    });
    order.sort(function (a, b) { return seen[b] - seen[a]; });
    detail.textContent = "";
    var title = el("p");
    title.appendChild(el("b", null, group.rows.length + " machines"));
    title.appendChild(document.createTextNode(" · " + c.id + " (" + c.title + "): "));
    var s = status(group.rows[0], col);
    title.appendChild(el("span", "badge s-" + CSS[s], s));
    detail.appendChild(title);
    order.slice(0, 5).forEach(function (text) {
      if (text) { detail.appendChild(el("pre", "value", seen[text] + " × " + text)); }
    });
    if (order.length > 5) { detail.appendChild(el("p", "muted", (order.length - 5) + " other details")); }
    detail.hidden = false;
  }
  function groupNode(group) {
    var first = group.rows[0], tr = el("tr", "group"), name = el("td", "machine");
    var open = !!expanded[group.key];
    var toggle = el("button", "link", (open ? "▾ " : "▸ ") + group.rows.length + " machines");
    toggle.type = "button";
    toggle.addEventListener("click", function () { expanded[group.key] = !open; draw(); });
    name.appendChild(toggle);
    var names = group.rows.slice(0, 2).map(function (r) { return r[0]; }).join(", ");
    name.appendChild(el("span", "muted", " " + names + (group.rows.length > 2 ? ", …" : "")));
    tr.appendChild(name);
    var oses = [];
    group.rows.forEach(function (r) { if (oses.indexOf(str(r[1])) < 0) { oses.push(str(r[1])); } });
    tr.appendChild(el("td", null, oses.join(", ")));
    tr.appendChild(el("td", "num", first[2] === null ? "-" : Math.round(first[2] * 100) + "%"));
    checks.forEach(function (c, col) {
      var s = status(first, col), td = el("td", "cell " + CSS[s], s);
      td.addEventListener("click", function () { groupDetail(group, col, td); });
      tr.appendChild(td);
    });
    return tr;
  }
  function draw() {
    var picked = rows.filter(matches), grouping = groupBox.checked;
    var units = grouping ? groupsOf(picked) : picked;
    var pages = Math.max(1, Math.ceil(units.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var first = page * PAGE, shown = units.slice(first, first + PAGE);
    var fragment = document.createDocumentFragment();
    shown.forEach(function (unit) {
      if (!grouping) { fragment.appendChild(rowNode(unit)); return; }
      if (unit.rows.length === 1) { fragment.appendChild(rowNode(unit.rows[0])); return; }
      fragment.appendChild(groupNode(unit));
      if (expanded[unit.key]) {
        unit.rows.slice(0, 500).forEach(function (row) {
          var tr = rowNode(row);
          tr.className = "member";
          fragment.appendChild(tr);
        });
      }
    });
    body.textContent = "";
    body.appendChild(fragment);
    selected = null;
    var what = grouping ? "rows" : "machines";
    var all = picked.length !== rows.length ? " (" + rows.length + " in all)" : "";
    count.textContent = !picked.length ? "no machine matches (" + rows.length + " in all)" :
      (grouping ? picked.length + " machines in " + units.length + " rows of identical results" + all +
        (pages > 1 ? "; rows " + (first + 1) + "–" + (first + shown.length) : "") :
        what + " " + (first + 1) + "–" + (first + shown.length) + " of " + picked.length + all);
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  groupBox.addEventListener("change", function () { page = 0; draw(); });
  filterBox.addEventListener("input", function () { page = 0; draw(); });
  checkBox.addEventListener("change", function () { page = 0; draw(); });
  statusBox.addEventListener("change", function () { page = 0; draw(); });
  prev.addEventListener("click", function () { page -= 1; draw(); });
  next.addEventListener("click", function () { page += 1; draw(); });
  document.querySelectorAll("button.show").forEach(function (b) {
    b.addEventListener("click", function () {
      checkBox.value = b.getAttribute("data-check");
      statusBox.value = b.getAttribute("data-status");
      filterBox.value = "";
      page = 0;
      draw();
      document.getElementById("matrix-title").scrollIntoView();
    });
  });
  drawHead();
  draw();
  document.body.setAttribute("data-ready", "1");
})();
