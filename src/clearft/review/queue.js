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

  function decide(row, item, decision, newTarget) {
    var d = {decision: decision, decided_at: new Date().toISOString()};
    if (newTarget !== undefined) { d.new_target = newTarget; }
    if (!(row.id in decisions)) { order.push(row.id); }
    decisions[row.id] = d;
    item.className = "item decided " + decision;
    var status = item.querySelector(".status");
    status.textContent = decision === "drop" ? "decided: drop" :
      decision === "keep" ? "decided: keep the target" : "decided: " + decision + " → " + newTarget;
    document.getElementById("decided-count").textContent = order.length + " of " + data.rows.length + " decided";
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
    var reviewer = document.getElementById("reviewer").value.trim();
    return order.map(function (id) {
      var d = decisions[id];
      var line = {id: id, decision: d.decision};
      if (d.new_target !== undefined) { line.new_target = d.new_target; }
      if (reviewer) { line.reviewer = reviewer; }
      line.decided_at = d.decided_at;
      return JSON.stringify(line) + "\n";
    }).join("");
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
  document.getElementById("download").addEventListener("click", download);
  window.clearftReview = {jsonl: jsonl};
  document.body.setAttribute("data-ready", "true");
})();
