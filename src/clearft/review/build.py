"""pool -> ranked queue -> one offline HTML page, or a Label Studio / Argilla export.

Dataset text is untrusted, as in the report: it travels only as JSON inside
<script type="application/json"> with every '<', '>' and '&' written as a \\u escape (no
`</script>` or `<!--` can appear), the page's script shows it only through textContent, and
a Content-Security-Policy allows only the page's own inline script (by its hash) and no
network. Static text filled in here goes through html.escape.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from clearft.data.cells import number_or_none
from clearft.data.options import DataOptions
from clearft.data.writers import write_text_atomic
from clearft.errors import ClearftError
from clearft.review.load import PoolRow, load_pool
from clearft.review.rank import correction_of, rank_rows

EXPORTS = ("html", "label-studio", "argilla")


@dataclass
class QueueResult:
    path: Path
    rows: list[dict[str, Any]]  # the queued rows, highest gain first
    pool: int  # rows considered
    bytes_written: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def candidates_of(row: PoolRow) -> list[dict[str, Any]]:
    """Replacement targets with where they came from: the judge's candidate, then each view's
    top label that differs from the target (and from what is already listed)."""
    c = correction_of(row.record) or {}
    out: list[dict[str, Any]] = []
    seen = {row.target}
    cand = c.get("candidate")
    if isinstance(cand, str) and cand and cand not in seen:
        support = c.get("confidence", c.get("candidate_confidence", c.get("judge_confidence")))
        out.append({"text": cand, "source": f"{c['judge']} judge" if c.get("judge") else "judge", "support": support})
        seen.add(cand)
    views = c.get("views")
    if isinstance(views, dict):
        for name, view in views.items():
            label = view.get("label") if isinstance(view, dict) else None
            if isinstance(label, str) and label not in seen:
                out.append({"text": label, "source": f"view {name}", "support": None})
                seen.add(label)
    return out


def evidence_of(row: PoolRow) -> list[list[str]]:
    """The correction's verdict as (key, text) pairs, for display."""
    c = correction_of(row.record)
    if c is None:
        return []
    return [[str(k), _text(v)] for k, v in c.items() if k not in ("candidate", "replaced") and v not in (None, [], {}, "")]


def queue_rows(pool: list[PoolRow], limit: int) -> list[dict[str, Any]]:
    rows = []
    for index, g in rank_rows([r.record for r in pool], limit, [r.target for r in pool]):
        row = pool[index]
        rows.append({"id": row.id, "prompt": row.prompt, "target": row.target, "gain": round(g, 4),
                     "confidence": number_or_none(row.record.get("confidence")),
                     "reason": _text((correction_of(row.record) or {}).get("reason")),
                     "candidates": candidates_of(row), "evidence": evidence_of(row)})
    return rows


# ---------------------------------------------------------------- HTML


def embed_json(data: Any) -> str:
    """JSON that is safe inside a <script> element and parses back to `data`."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _asset(name: str) -> str:
    return resources.files("clearft.review").joinpath(name).read_text(encoding="utf-8")


def script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


OFFLINE_NOTE = ("Decide each row: keep its target, replace it with a candidate, edit it, or drop the row. "
                "Then download the decisions (JSONL) and run clearft apply DECISIONS -o OUT --data DATA. "
                "Nothing leaves this page otherwise.")


def page_csp(served: bool = False) -> str:
    """The page's Content-Security-Policy: only its own script (by hash), no network; served
    (`clearft review --serve`), the script may also talk to the server it came from."""
    connect = "connect-src 'self'; " if served else ""
    return (f"default-src 'none'; script-src '{script_hash(_asset('queue.js'))}'; {connect}"
            "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'")


def render_queue(rows: list[dict[str, Any]], title: str, pool: int, serve: dict[str, Any] | None = None) -> str:
    """The page. `serve` (from clearft.review.serve): {"token", "saved": {id: decision},
    "decisions": file name}; the page then saves each decision to its server as it is made."""
    data: dict[str, Any] = {"rows": rows}
    note = OFFLINE_NOTE
    if serve is not None:
        data["serve"] = serve
        note = (f"Each decision is saved to {serve['decisions']} by clearft review --serve the moment you "
                "make it (the status beside it says so); reload the page to see what is saved. Apply them "
                f"with clearft apply {serve['decisions']} -o OUT --data DATA.")
    values = {
        "title": escape(title),
        "csp": page_csp(serve is not None),
        "counts": escape(f"{len(rows)} rows to review, the most useful first, of {pool} the machine "
                         "could not confidently fix"),
        "note": escape(note),
        "data": embed_json(data),
        "script": _asset("queue.js"),
    }
    template = _asset("queue.html")
    out = []
    pos = 0
    # One pass over the template: text filled in is never scanned for placeholders again.
    while (start := template.find("{{", pos)) != -1:
        end = template.index("}}", start)
        out.append(template[pos:start])
        out.append(values[template[start + 2:end]])
        pos = end + 2
    out.append(template[pos:])
    return "".join(out)


# ---------------------------------------------------------------- labelling tools


def label_studio_tasks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio tasks (import JSON): `data` holds the row; each candidate is a prediction
    of a TextArea named `new_target` over the Text `prompt`, scored by its support."""
    tasks = []
    for row in rows:
        predictions = [{
            "model_version": f"clearft {c['source']}",
            "score": c["support"] if isinstance(c["support"], (int, float)) else row["gain"],
            "result": [{"from_name": "new_target", "to_name": "prompt", "type": "textarea",
                        "value": {"text": [c["text"]]}}],
        } for c in row["candidates"]]
        tasks.append({"data": {"clearft_id": row["id"], "prompt": row["prompt"], "target": row["target"],
                               "confidence": row["confidence"], "gain": row["gain"], "reason": row["reason"]},
                      "predictions": predictions})
    return tasks


def argilla_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Argilla records (one JSON object a line): fields prompt and target, the candidates as
    suggestions to a text question `new_target`, the rest as metadata."""
    out = []
    for row in rows:
        out.append({
            "id": row["id"],
            "fields": {"prompt": row["prompt"], "target": row["target"]},
            "suggestions": [{"question_name": "new_target", "value": c["text"],
                             "score": c["support"] if isinstance(c["support"], (int, float)) else None,
                             "agent": f"clearft {c['source']}"} for c in row["candidates"]],
            "metadata": {"confidence": row["confidence"], "gain": row["gain"], "reason": row["reason"]},
        })
    return out


def build_queue(source: str | Path, output: str | Path, *, limit: int = 50, to: str = "html",
                title: str | None = None, data_options: DataOptions | None = None) -> QueueResult:
    """Write the review queue of a run directory or a scored/corrected file."""
    if to not in EXPORTS:
        raise ClearftError(f"unknown export '{to}'; choose {', '.join(EXPORTS)}")
    if limit < 1:
        raise ClearftError(f"--top must be at least 1, got {limit}")
    pool = load_pool(source, data_options)
    rows = queue_rows(pool, limit)
    path = Path(output)
    if to == "html":
        text = render_queue(rows, title or f"clearft review: {Path(source).name}", len(pool))
    elif to == "label-studio":
        text = json.dumps(label_studio_tasks(rows), ensure_ascii=False, indent=1) + "\n"
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in argilla_records(rows))
    return QueueResult(path=path, rows=rows, pool=len(pool), bytes_written=write_text_atomic(path, text))
