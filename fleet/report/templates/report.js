"use strict";
(function () {
  // Everything shown comes from the JSON data block and goes into the page as text nodes
  // (never innerHTML): an output that looks like HTML stays text.
  var data = JSON.parse(document.getElementById("fleet-data").textContent);
  var S = data.strings, F = {};
  data.fields.forEach(function (name, i) { F[name] = i; });
  var PAGE = 100, GROUPS_FIRST = 10;

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
    show.addEventListener("click", function () {
      filterBox.value = "group:" + g.id;
      stateBox.value = "all";
      page = 0;
      draw();
      document.getElementById("machines-title").scrollIntoView();
    });
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

  // -- the machine table ----------------------------------------------------------------
  var filterBox = document.getElementById("filter");
  var stateBox = document.getElementById("state");
  var body = document.querySelector("#machines tbody");
  var count = document.getElementById("count");
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var rows = data.rows, page = 0, hay = new Array(rows.length), open = {};

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
    var why = cell(tr, str(r[F.reason]));
    var out = excerpt(r, "output_group", "output_text"), err = excerpt(r, "error_group", "error_text");
    var nodes = [tr];
    if (out || err) {
      var toggle = el("button", "link", open[i] ? "hide output" : "output");
      toggle.type = "button";
      toggle.addEventListener("click", function () { open[i] = !open[i]; draw(); });
      if (why.textContent) { why.appendChild(document.createTextNode(" ")); }
      why.appendChild(toggle);
      if (open[i]) {
        var detail = el("tr", "detail"), td = el("td");
        td.colSpan = 9;
        if (out) { td.appendChild(el("pre", "out", out)); }
        if (err) { td.appendChild(el("pre", "err", err)); }
        detail.appendChild(td);
        nodes.push(detail);
      }
    }
    return nodes;
  }
  function draw() {
    var picked = selected();
    var pages = Math.max(1, Math.ceil(picked.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var first = page * PAGE, shown = picked.slice(first, first + PAGE);
    var fragment = document.createDocumentFragment();
    shown.forEach(function (i) { rowNode(i).forEach(function (n) { fragment.appendChild(n); }); });
    body.textContent = "";
    body.appendChild(fragment);
    count.textContent = picked.length ?
      "rows " + (first + 1) + "–" + (first + shown.length) + " of " + picked.length +
        (picked.length !== rows.length ? " (" + rows.length + " in all)" : "") :
      "no row matches (" + rows.length + " in all)";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    document.querySelectorAll("button.tile").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-filter") === stateBox.value);
    });
  }
  filterBox.addEventListener("input", function () { page = 0; draw(); });
  stateBox.addEventListener("change", function () { page = 0; draw(); });
  prev.addEventListener("click", function () { page -= 1; draw(); });
  next.addEventListener("click", function () { page += 1; draw(); });
  document.querySelectorAll("button.tile").forEach(function (b) {
    b.addEventListener("click", function () {
      var f = b.getAttribute("data-filter");
      stateBox.value = stateBox.querySelector('option[value="' + f + '"]') ? f : "all";
      page = 0;
      draw();
      document.getElementById("machines-title").scrollIntoView();
    });
  });
  draw();
  document.body.setAttribute("data-ready", "1");
})();
