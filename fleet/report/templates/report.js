"use strict";
(function () {
  // Everything shown comes from the JSON data block and goes into the page as text nodes
  // (never innerHTML): an output that looks like HTML stays text.
  var data = JSON.parse(document.getElementById("fleet-data").textContent);
  var S = data.strings, F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var GROUPS_FIRST = 10;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function str(i) { return i >= 0 ? S[i] : ""; }

  // -- output groups --------------------------------------------------------------------
  var groupsBox = document.getElementById("groups");
  function groupNode(g) {
    var box = el("details", g.failure ? "group bad" : "group");
    box.id = g.id;
    if (g.failure) { box.open = true; }
    var sum = el("summary");
    sum.appendChild(el("b", null, g.count));
    var states = g.states.map(function (s) { return s[0] + " " + s[1]; }).join(", ");
    sum.appendChild(document.createTextNode(" machine" + (g.count === 1 ? "" : "s") + " · step " +
      g.step + " · " + g.stream + " · " + states));
    box.appendChild(sum);
    var codes = g.exit_codes.map(function (c) { return c === null ? "-" : c; }).join(", ");
    box.appendChild(el("p", "muted", "exit codes " + codes + " · " + g.bytes + " bytes" +
      (g.truncated ? " · truncated" : "") + " · sha256 " + g.sha256));
    box.appendChild(g.excerpt ? el("pre", null, g.excerpt) : el("p", "muted", "(empty)"));
    var show = el("button", "link", g.count === 1 ? "show this machine in the table" :
      "show these " + g.count + " machines in the table");
    show.type = "button";
    show.addEventListener("click", function () { showGroup(g.id); });
    box.appendChild(show);
    return box;
  }
  function drawGroups(limit) {
    groupsBox.textContent = "";
    data.groups.slice(0, limit).forEach(function (g) { groupsBox.appendChild(groupNode(g)); });
    if (data.groups.length > limit) {
      var more = el("button", null, "show all " + data.groups.length + " groups");
      more.type = "button";
      more.id = "more-groups";
      more.addEventListener("click", function () { drawGroups(data.groups.length); });
      groupsBox.appendChild(more);
    }
    if (!data.groups.length) { groupsBox.appendChild(el("p", "muted", "No output was captured.")); }
  }
  drawGroups(GROUPS_FIRST);

  // -- the machine table: a virtual list ---------------------------------------------
  // Only the rows in (and near) the visible window are in the DOM; spacer rows above and
  // below stand for the others, so 10,000 rows cost a few dozen elements, not 10,000.
  var filterBox = document.getElementById("filter");
  var stateBox = document.getElementById("state");
  var viewport = document.getElementById("viewport");
  var body = document.querySelector("#machines tbody");
  var count = document.getElementById("count");
  var rows = data.rows, hay = new Array(rows.length), open = {};
  var picked = [], openAt = [];  // rows shown (indexes into rows); positions in picked opened
  var ROW_H = 45, DETAIL_H = 250, OVERSCAN = 12, measured = {row: false, detail: false};

  function excerpt(row, groupField, textField) {
    var g = row[F[groupField]];
    if (g >= 0) { return data.groups[g].excerpt.split("<machine>").join(row[F.name]); }
    return str(row[F[textField]]);
  }
  function haystack(i) {
    if (hay[i] === undefined) {
      var r = rows[i];
      var groups = [r[F.output_group], r[F.error_group]].filter(function (g) { return g >= 0; })
        .map(function (g) { return "group:" + data.groups[g].id; });
      hay[i] = [r[F.name], str(r[F.subscription]), str(r[F.resource_group]), str(r[F.step]),
        str(r[F.state]), str(r[F.reason]), excerpt(r, "output_group", "output_text"),
        excerpt(r, "error_group", "error_text"), groups.join(" ")].join("\n").toLowerCase();
    }
    return hay[i];
  }
  function stateTest() {
    var v = stateBox.value;
    if (v === "all") { return null; }
    var wanted = v.charAt(0) === "=" ? [v.slice(1)] : (data.filters[v] || []);
    return function (r) { return wanted.indexOf(S[r[F.state]]) >= 0; };
  }
  function selected() {
    var terms = filterBox.value.toLowerCase().split(/\s+/).filter(Boolean);
    var test = stateTest(), out = [];
    for (var i = 0; i < rows.length; i++) {
      if (test && !test(rows[i])) { continue; }
      var h = terms.length ? haystack(i) : "";
      var ok = true;
      for (var t = 0; t < terms.length && ok; t++) {
        if (terms[t].indexOf("group:") === 0) {
          ok = (" " + h.split("\n").pop() + " ").indexOf(" " + terms[t] + " ") >= 0;
        } else {
          ok = h.indexOf(terms[t]) >= 0;
        }
      }
      if (ok) { out.push(i); }
    }
    return out;
  }
  function cell(tr, text, cls) { var td = el("td", cls, text); tr.appendChild(td); return td; }
  function rowNode(i) {
    var r = rows[i], tr = el("tr", "row s-row-" + S[r[F.state]]);
    var sub = str(r[F.subscription]), rg = str(r[F.resource_group]);
    var name = cell(tr, r[F.name], "name");
    name.title = "/subscriptions/" + sub + "/resourceGroups/" + rg +
      "/providers/Microsoft.HybridCompute/machines/" + r[F.name];
    name.appendChild(el("br"));
    name.appendChild(el("span", "muted", sub + " / " + rg));
    cell(tr, str(r[F.step]) + (r[F.rollback] ? " (rollback)" : ""));
    cell(tr, r[F.wave] < 0 ? "rollback" : r[F.wave] + 1, "num");
    var st = cell(tr, "");
    st.appendChild(el("span", "badge s-" + S[r[F.state]], S[r[F.state]]));
    cell(tr, r[F.exit_code] === null ? "-" : r[F.exit_code], "num");
    cell(tr, r[F.duration] >= 0 ? S[r[F.duration]] : "-", "num");
    cell(tr, r[F.attempts], "num");
    cell(tr, r[F.bytes], "num");
    var why = cell(tr, str(r[F.reason]), "why");
    why.title = why.textContent;
    var out = excerpt(r, "output_group", "output_text"), err = excerpt(r, "error_group", "error_text");
    var nodes = [tr];
    if (out || err) {
      var toggle = el("button", "link", open[i] ? "hide output" : "output");
      toggle.type = "button";
      toggle.addEventListener("click", function () { open[i] = !open[i]; reopen(); draw(); });
      if (why.textContent) { why.insertBefore(document.createTextNode(" "), why.firstChild); }
      why.insertBefore(toggle, why.firstChild);
      if (open[i]) {
        var detail = el("tr", "detail"), td = el("td"), box = el("div", "detail-box");
        td.colSpan = 9;
        if (out) { box.appendChild(el("pre", "out", out)); }
        if (err) { box.appendChild(el("pre", "err", err)); }
        td.appendChild(box);
        detail.appendChild(td);
        nodes.push(detail);
      }
    }
    return nodes;
  }
  function spacer(height) {
    var tr = el("tr", "spacer"), td = el("td");
    td.colSpan = 9;
    td.style.height = height + "px";  // CSSOM, which the CSP allows (no style attribute)
    tr.appendChild(td);
    return tr;
  }
  // Heights: every row ROW_H, every opened row DETAIL_H more (openAt is short and sorted).
  function offsetOf(k) {
    var extra = 0;
    for (var j = 0; j < openAt.length && openAt[j] < k; j++) { extra += DETAIL_H; }
    return k * ROW_H + extra;
  }
  function indexAt(y) {
    var extra = 0;
    for (var j = 0; j < openAt.length; j++) {
      if ((openAt[j] + 1) * ROW_H + extra + DETAIL_H <= y) { extra += DETAIL_H; } else { break; }
    }
    return Math.max(0, Math.floor((y - extra) / ROW_H));
  }
  function reopen() {
    openAt = [];
    for (var k = 0; k < picked.length; k++) { if (open[picked[k]]) { openAt.push(k); } }
  }
  function select() {
    picked = selected();
    reopen();
    viewport.scrollTop = 0;
    draw();
  }
  function draw() {
    var top = viewport.scrollTop;
    var height = Math.max(viewport.clientHeight, window.innerHeight || 0, 600);
    var first = Math.max(0, indexAt(top) - OVERSCAN);
    var last = Math.min(picked.length, indexAt(top + height) + 1 + OVERSCAN);
    var fragment = document.createDocumentFragment();
    fragment.appendChild(spacer(offsetOf(first)));
    for (var k = first; k < last; k++) {
      rowNode(picked[k]).forEach(function (n) { fragment.appendChild(n); });
    }
    fragment.appendChild(spacer(offsetOf(picked.length) - offsetOf(last)));
    body.textContent = "";
    body.appendChild(fragment);
    count.textContent = !picked.length ? "no row matches (" + rows.length + " in all)" :
      picked.length === rows.length ? rows.length + " rows" :
        picked.length + " of " + rows.length + " rows match";
    document.querySelectorAll("button.tile").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-filter") === stateBox.value);
    });
    measure();
  }
  // The first drawn row (and opened row) sets the heights the spacers assume.
  function measure() {
    var again = false, row = body.querySelector("tr.row"), detail = body.querySelector("tr.detail");
    if (row && !measured.row) {
      measured.row = true;
      var h = row.getBoundingClientRect().height;
      if (h > 0 && Math.abs(h - ROW_H) > 0.5) { ROW_H = h; again = true; }
    }
    if (detail && !measured.detail) {
      measured.detail = true;
      var d = detail.getBoundingClientRect().height;
      if (d > 0 && Math.abs(d - DETAIL_H) > 0.5) { DETAIL_H = d; again = true; }
    }
    if (again) { draw(); }
  }
  var pending = false;
  viewport.addEventListener("scroll", function () {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  });
  function showGroup(id) {
    filterBox.value = "group:" + id;
    stateBox.value = "all";
    select();
    document.getElementById("machines-title").scrollIntoView();
  }
  filterBox.addEventListener("input", select);
  stateBox.addEventListener("change", select);
  document.querySelectorAll("button.tile").forEach(function (b) {
    b.addEventListener("click", function () {
      var f = b.getAttribute("data-filter");
      stateBox.value = stateBox.querySelector('option[value="' + f + '"]') ? f : "all";
      select();
      document.getElementById("machines-title").scrollIntoView();
    });
  });
  select();
  document.body.setAttribute("data-ready", "1");
})();
