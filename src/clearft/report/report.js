// clearft report: a paged, sortable, searchable table over the rows embedded as JSON.
// Data is shown only through textContent (never innerHTML): dataset text is untrusted.
// Only one page of rows is in the DOM at a time, so 100,000 rows open as fast as 50.
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("clearft-data").textContent);
  var rows = data.rows;
  var methods = data.methods;

  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return v.toFixed(3);
    return String(v);
  }

  function clip(text, n) {
    text = String(text || "");
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  // Columns: key, header text, how to read the sort value, how to show it.
  var columns = [
    { key: "n", label: "#", get: function (r) { return r.n; }, show: function (r) { return String(r.n); } },
    { key: "id", label: "id", get: function (r) { return r.id; }, show: function (r) { return clip(r.id, 24); } },
    { key: "confidence", label: "confidence", get: function (r) { return r.confidence; } },
    { key: "consistency", label: "consistency", get: function (r) { return r.consistency; } },
    { key: "self_reflection", label: "self-reflection", get: function (r) { return r.self_reflection; } }
  ];
  methods.slice(1).forEach(function (name, j) {
    columns.push({ key: "m" + j, label: name, get: function (r) { return r.scores[j]; } });
  });
  columns.push(
    { key: "status", label: "status", get: function (r) { return r.error ? "error" : r.status; } },
    { key: "prompt", label: "prompt", get: function (r) { return r.prompt; }, show: function (r) { return clip(r.prompt, 90); } },
    { key: "target", label: "target", get: function (r) { return r.target; }, show: function (r) { return clip(r.target, 60); } }
  );

  var state = {
    sortKey: "confidence",
    direction: 1, // 1 ascending, -1 descending
    query: "",
    page: 0,
    pageSize: data.page_size || 50,
    order: [], // indices into rows: filtered, then sorted
    open: {} // row index -> true when its detail is expanded
  };

  var haystacks = null; // lower-cased search text per row, built on the first search

  function searchText(i) {
    if (haystacks === null) {
      haystacks = rows.map(function (r) {
        return [r.id, r.prompt, r.target, r.status, r.method, r.error || "",
                r.correction ? r.correction.reason : ""].join("\n").toLowerCase();
      });
    }
    return haystacks[i];
  }

  function columnByKey(key) {
    for (var i = 0; i < columns.length; i++) if (columns[i].key === key) return columns[i];
    return columns[2];
  }

  // Missing values sort last in either direction: they are "not scored", not "lowest".
  function compare(get, direction) {
    return function (a, b) {
      var x = get(rows[a]), y = get(rows[b]);
      var xMissing = x === null || x === undefined || x === "";
      var yMissing = y === null || y === undefined || y === "";
      if (xMissing || yMissing) return xMissing === yMissing ? a - b : (xMissing ? 1 : -1);
      if (x < y) return -direction;
      if (x > y) return direction;
      return a - b; // stable: file order breaks ties
    };
  }

  function recompute() {
    var q = state.query.trim().toLowerCase();
    var order = [];
    for (var i = 0; i < rows.length; i++) {
      if (!q || searchText(i).indexOf(q) !== -1) order.push(i);
    }
    order.sort(compare(columnByKey(state.sortKey).get, state.direction));
    state.order = order;
    var pages = Math.max(1, Math.ceil(order.length / state.pageSize));
    if (state.page >= pages) state.page = pages - 1;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function renderHead() {
    var head = document.getElementById("rows-head");
    head.textContent = "";
    var tr = el("tr");
    columns.forEach(function (col) {
      var th = el("th");
      th.setAttribute("data-key", col.key);
      th.setAttribute("aria-sort", col.key === state.sortKey ? (state.direction === 1 ? "ascending" : "descending") : "none");
      var button = el("button", "sort", col.label + (col.key === state.sortKey ? (state.direction === 1 ? " ▲" : " ▼") : ""));
      button.type = "button";
      button.addEventListener("click", function () {
        if (state.sortKey === col.key) state.direction = -state.direction;
        else { state.sortKey = col.key; state.direction = 1; }
        state.page = 0;
        recompute();
        renderHead();
        renderBody();
      });
      th.appendChild(button);
      tr.appendChild(th);
    });
    head.appendChild(tr);
  }

  function section(title, child) {
    var box = el("div", "detail-block");
    box.appendChild(el("h4", null, title));
    box.appendChild(child);
    return box;
  }

  function table(headers, lines) {
    var t = el("table", "grid inner");
    var tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    var thead = el("thead");
    thead.appendChild(tr);
    t.appendChild(thead);
    var tbody = el("tbody");
    lines.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (c) { row.appendChild(el("td", null, c)); });
      tbody.appendChild(row);
    });
    t.appendChild(tbody);
    return t;
  }

  function probs(p) {
    if (!p) return "–";
    return Object.keys(p).map(function (k) { return k + " " + fmt(p[k]); }).join(", ");
  }

  function renderDetail(r) {
    var box = el("div", "detail");
    var pair = el("div", "pair");
    pair.appendChild(section("Prompt", el("pre", null, r.prompt)));
    pair.appendChild(section("Target", el("pre", null, r.target)));
    box.appendChild(pair);

    var scores = [["confidence", fmt(r.confidence)], ["consistency", fmt(r.consistency)],
                  ["self-reflection", fmt(r.self_reflection)], ["method", r.method || "–"],
                  ["status", r.status || "–"]];
    methods.slice(1).forEach(function (name, j) { scores.push([name, fmt(r.scores[j])]); });
    if (r.unknown !== null) scores.push(["unparsed model outputs", String(r.unknown)]);
    if (r.error) scores.push(["error", r.error]);
    if (r.drop_reason) scores.push(["why dropped", r.drop_reason]);
    Object.keys(r.evidence_other).forEach(function (k) { scores.push([k, fmt(r.evidence_other[k])]); });
    box.appendChild(section("Scores", table(["", "value"], scores)));

    if (r.samples.length) {
      box.appendChild(section("Sampled answers", table(
        ["#", "answer", "similarity", "exact match", "sample"],
        r.samples.map(function (s, i) {
          return [String(i + 1), s.answer, fmt(s.similarity), s.exact_match === null ? "–" : (s.exact_match ? "yes" : "no"), s.text];
        }))));
    }
    if (r.reflections.length) {
      box.appendChild(section("Self-reflection", table(
        ["round", "verdict", "P(A, B, C)", "explanation"],
        r.reflections.map(function (x) {
          return [x.round, x.verdict, probs(x.probs), x.explanation || x.raw];
        }))));
    }
    if (r.correction) {
      var c = r.correction;
      var evidence = c.judge === "evidence";
      var sides = el("div", "pair correction");
      sides.appendChild(section("Original", el("pre", null, c.original || r.target)));
      sides.appendChild(section(c.replaced ? "Replacement (used)" : "Candidate (not used)", el("pre", null, c.candidate || "–")));
      box.appendChild(sides);
      // The decision first, and why: a refused row's reason is what a reviewer looks for.
      var judge = [
        ["replaced", c.replaced ? "yes" : "no"],
        ["reason", c.reason || "–"]
      ];
      if (evidence) {
        judge.push(["best-supported label", c.label || "–"], ["combined confidence (mean of the views)", fmt(c.confidence)]);
      } else {
        judge.push(["judge confidence", fmt(c.judge_confidence)],
                   ["verdicts", c.verdicts.join("\n") || "–"],
                   ["explanation", c.explanation || "–"]);
      }
      if (c.errors.length) judge.push(["errors", c.errors.join("\n")]);
      Object.keys(c.details).forEach(function (k) { judge.push([k, fmt(c.details[k])]); });
      box.appendChild(section(evidence ? "Evidence judge" : "Judge", table(["", "value"], judge)));
      if (c.views.length) {
        var agreeing = c.views.filter(function (v) { return v.agrees; }).length;
        box.appendChild(section("Views (" + agreeing + " of " + c.views.length + " agree)", table(
          ["view", "its label", "P(" + clip(c.label, 40) + ")", "agrees"],
          c.views.map(function (v) { return [v.name, v.label, fmt(v.prob), v.agrees ? "yes" : "no"]; }))));
      }
    }
    var other = Object.keys(r.other);
    if (other.length) {
      box.appendChild(section("Other fields", table(["field", "value"], other.map(function (k) { return [k, r.other[k]]; }))));
    }
    return box;
  }

  function toggle(index) {
    if (state.open[index]) delete state.open[index];
    else state.open[index] = true;
    renderBody();
  }

  function renderBody() {
    var body = document.getElementById("rows");
    body.textContent = "";
    var start = state.page * state.pageSize;
    var page = state.order.slice(start, start + state.pageSize);
    page.forEach(function (index) {
      var r = rows[index];
      var tr = el("tr", "row" + (r.error ? " error" : "") + (r.status ? " status-" + r.status.replace(/[^a-z]/g, "-") : ""));
      tr.setAttribute("data-index", String(index));
      tr.setAttribute("tabindex", "0");
      tr.setAttribute("aria-expanded", state.open[index] ? "true" : "false");
      columns.forEach(function (col) {
        var value = col.show ? col.show(r) : (col.key === "status" ? col.get(r) || "" : fmt(col.get(r)));
        tr.appendChild(el("td", "c-" + col.key, value));
      });
      tr.addEventListener("click", function () { toggle(index); });
      tr.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(index); }
      });
      body.appendChild(tr);
      if (state.open[index]) {
        var detailRow = el("tr", "detail-row");
        var td = el("td");
        td.colSpan = columns.length;
        td.appendChild(renderDetail(r));
        detailRow.appendChild(td);
        body.appendChild(detailRow);
      }
    });
    var pages = Math.max(1, Math.ceil(state.order.length / state.pageSize));
    document.getElementById("page-info").textContent =
      "page " + (state.page + 1) + " of " + pages + " · " + state.order.length + " of " + rows.length + " rows";
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
  }

  var searchTimer = null;
  document.getElementById("search").addEventListener("input", function (e) {
    var value = e.target.value;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      state.query = value;
      state.page = 0;
      recompute();
      renderBody();
    }, 150);
  });
  var sizeSelect = document.getElementById("page-size");
  if ([25, 50, 100, 250].indexOf(state.pageSize) === -1) {
    var option = el("option", null, String(state.pageSize));
    sizeSelect.appendChild(option);
  }
  sizeSelect.value = String(state.pageSize);
  sizeSelect.addEventListener("change", function () {
    state.pageSize = parseInt(sizeSelect.value, 10);
    state.page = 0;
    recompute();
    renderBody();
  });
  document.getElementById("prev").addEventListener("click", function () {
    if (state.page > 0) { state.page -= 1; renderBody(); }
  });
  document.getElementById("next").addEventListener("click", function () {
    var pages = Math.max(1, Math.ceil(state.order.length / state.pageSize));
    if (state.page < pages - 1) { state.page += 1; renderBody(); }
  });

  recompute();
  renderHead();
  renderBody();
  document.body.setAttribute("data-ready", "true");
  // Milliseconds from navigation start until the first page was drawn (read by bench/report_speed.py).
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
