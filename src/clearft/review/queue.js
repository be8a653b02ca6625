(function () {
  "use strict";
  // Dataset text is shown only through textContent and value, never as markup.
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var decisions = {};  // id -> {decision, new_target?, decided_at}
  var order = [];  // ids in the order they were first decided

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function fmt(x) { return typeof x === "number" ? x.toFixed(3) : "–"; }

  // Served by `clearft review --serve`: each decision goes to the server as it is made.
  var serve = data.serve || null;
  var pending = 0;
  var chain = Promise.resolve();

  function describe(d) {
    return d.decision === "drop" ? "decided: drop" :
      d.decision === "keep" ? "decided: keep the target" : "decided: " + d.decision + " → " + d.new_target;
  }

  function show(item, d, state) {
    item.className = "item decided " + d.decision + (state === "unsaved" ? " unsaved" : "");
    item.setAttribute("data-saved", state || "");
    var status = item.querySelector(".status");
    status.textContent = describe(d) + (state === "saving" ? " (saving…)" : state === "saved" ? " (saved)" :
      state === "unsaved" ? " — NOT SAVED: " + item.getAttribute("data-error") : "");
    document.getElementById("decided-count").textContent = order.length + " of " + data.rows.length + " decided";
  }

  function reviewerName() { return document.getElementById("reviewer").value.trim(); }

  function line(id, d) {
    var out = {id: id, decision: d.decision};
    if (d.new_target !== undefined && d.new_target !== null) { out.new_target = d.new_target; }
    var reviewer = d.reviewer !== undefined ? d.reviewer : reviewerName();
    if (reviewer) { out.reviewer = reviewer; }
    out.decided_at = d.decided_at;
    return out;
  }

  function setPending(delta) {
    pending += delta;
    document.body.setAttribute("data-saving", String(pending));
  }

  function save(id, item, d) {
    // One request at a time, in the order decided: the file's last line on a row is the last decision.
    setPending(1);
    chain = chain.then(function () {
      return fetch("/decisions", {
        method: "POST", credentials: "omit", cache: "no-store",
        headers: {"Content-Type": "application/json", "X-Clearft-Token": serve.token},
        body: JSON.stringify(line(id, d))
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
        });
      }).then(function () {
        if (decisions[id] === d) { show(item, d, "saved"); }
      }, function (err) {
        item.setAttribute("data-error", String(err && err.message ? err.message : err));
        if (decisions[id] === d) { show(item, d, "unsaved"); }
      }).then(function () { setPending(-1); });
    });
  }

  function decide(row, item, decision, newTarget) {
    var d = {decision: decision, decided_at: new Date().toISOString()};
    if (newTarget !== undefined) { d.new_target = newTarget; }
    if (serve) { d.reviewer = reviewerName(); }
    if (!(row.id in decisions)) { order.push(row.id); }
    decisions[row.id] = d;
    show(item, d, serve ? "saving" : "");
    if (serve) { save(row.id, item, d); }
  }

  function button(label, cls, onClick) {
    var b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function render(row, index) {
    var item = el("article", "item");
    item.setAttribute("data-id", row.id);
    item.setAttribute("data-index", String(index));
    item.appendChild(el("h2", null, "#" + (index + 1) + " · " + row.id));
    item.appendChild(el("p", "meta", "expected gain " + fmt(row.gain) + " · confidence " + fmt(row.confidence) +
      (row.reason ? " · not corrected: " + row.reason : "")));
    item.appendChild(el("h3", null, "prompt"));
    item.appendChild(el("pre", "prompt", row.prompt));
    item.appendChild(el("h3", null, "target"));
    item.appendChild(el("pre", "target", row.target));
    if (row.candidates.length) {
      item.appendChild(el("h3", null, "candidates"));
      row.candidates.forEach(function (c, k) {
        var line = el("div", "cand");
        line.appendChild(el("pre", "cand-text", c.text));
        line.appendChild(el("span", "meta", c.source + (typeof c.support === "number" ? " · support " + fmt(c.support) : "")));
        line.appendChild(button("replace with this", "replace", function () { decide(row, item, "replace", c.text); }));
        line.setAttribute("data-k", String(k));
        item.appendChild(line);
      });
    }
    if (row.evidence.length) {
      var table = el("table", "evidence");
      row.evidence.forEach(function (kv) {
        var tr = el("tr");
        tr.appendChild(el("th", null, kv[0]));
        tr.appendChild(el("td", null, kv[1]));
        table.appendChild(tr);
      });
      var details = el("details");
      details.appendChild(el("summary", null, "evidence"));
      details.appendChild(table);
      item.appendChild(details);
    }
    var controls = el("div", "controls");
    controls.appendChild(button("keep", "keep", function () { decide(row, item, "keep"); }));
    controls.appendChild(button("drop", "drop", function () { decide(row, item, "drop"); }));
    var area = el("textarea", "edit-text");
    area.value = row.target;
    area.setAttribute("aria-label", "edited target of " + row.id);
    controls.appendChild(area);
    controls.appendChild(button("save edit", "edit", function () { decide(row, item, "edit", area.value); }));
    controls.appendChild(el("span", "status", ""));
    item.appendChild(controls);
    return item;
  }

  function jsonl() {
    return order.map(function (id) { return JSON.stringify(line(id, decisions[id])) + "\n"; }).join("");
  }

  function download() {
    var text = jsonl();
    document.getElementById("export").textContent = text;
    var blob = new Blob([text], {type: "application/x-ndjson"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "decisions.jsonl";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  }

  var queue = document.getElementById("queue");
  data.rows.forEach(function (row, i) { queue.appendChild(render(row, i)); });
  if (!data.rows.length) { queue.appendChild(el("p", null, "Nothing to review.")); }
  if (serve) {
    setPending(0);
    var last = null;
    Object.keys(serve.saved).forEach(function (id) {
      var item = queue.querySelector('article.item[data-id="' + CSS.escape(id) + '"]');
      if (!item) { return; }
      var d = serve.saved[id];
      if (d.reviewer === undefined) { d.reviewer = ""; }
      order.push(id);
      decisions[id] = d;
      show(item, d, "saved");
      last = d;
    });
    if (last && last.reviewer) { document.getElementById("reviewer").value = last.reviewer; }
  }
  document.getElementById("download").addEventListener("click", download);
  window.clearftReview = {jsonl: jsonl};
  document.body.setAttribute("data-ready", "true");
})();
