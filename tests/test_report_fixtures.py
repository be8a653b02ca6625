"""Builders of report inputs in the exact shape teammates produce (scored files, sidecar
settings, run directories), and a corpus of hostile strings. Imported by the other
test_report_* modules; the one test here checks the builders themselves."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

# Each of these, if the report ever put it into the page as markup, would set window.__pwned
# or load something. A correct report shows every one as plain text.
XSS = [
    "<script>window.__pwned = 'script'</script>",
    "</script><script>window.__pwned = 'breakout'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "<a href=\"javascript:window.__pwned = 'href'\">click</a>",
    "javascript:window.__pwned='url'",
    "\" onmouseover=\"window.__pwned = 'attr'\" x=\"",
    "<iframe src=\"javascript:parent.__pwned = 'iframe'\"></iframe>",
    "<!-- <script>window.__pwned = 'comment'</script> -->",
    "{{script}} {{data}}",
    "\u2028\u2029 line separators",
]


def scored_record(i: int, confidence: float | None = None, **overrides: Any) -> dict[str, Any]:
    """One record as `clearft score` writes it: the user's fields plus clearft's columns."""
    conf = round((i * 37 % 100) / 100, 2) if confidence is None else confidence
    record: dict[str, Any] = {
        "prompt": f"Classify sentence {i}: profits rose.",
        "response": "positive" if i % 3 else "negative",
        "id": f"row-{i:04d}",
        "confidence": conf,
        "consistency": conf,
        "self_reflection": 0.5,
        "clearft_method": "bsdetector",
        "clearft_evidence": {
            "samples": [
                {"text": f"explanation: sample {i}.{k}, answer: positive", "answer": "positive",
                 "similarity": 0.25 * k, "exact_match": k % 2 == 0}
                for k in range(3)
            ],
            "reflections": [
                {"round": r, "verdict": "A" if r == 1 else "C",
                 "probs": {"A": 0.6, "B": 0.3, "C": 0.1} if r == 1 else None,
                 "explanation": f"reflection {r} on row {i}", "raw": f"raw reply {r}"}
                for r in (1, 2)
            ],
            "unknown": 0,
        },
        "clearft_error": None,
    }
    record.update(overrides)
    return record


def failed_record(i: int) -> dict[str, Any]:
    record = scored_record(i)
    record.update(confidence=None, consistency=None, self_reflection=None, clearft_evidence={},
                  clearft_error="backend timed out")
    return record


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    """As the data layer writes CSV: dict/list columns as JSON text, None as an empty cell."""
    fields = list(records[0])
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in records:
            w.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v)
                        for k, v in r.items()})
    return path


def write_meta(path: Path, **settings: Any) -> Path:
    meta = {"method": "bsdetector", "preset": "medium", "alpha": 0.8, "beta": 0.7, "k": 3,
            "rounds": 2, "seed": 7, "backend": {"backend": "fake", "model_id": "fake-model"}}
    meta.update(settings)
    side = Path(str(path) + ".meta.json")
    side.write_text(json.dumps(meta), encoding="utf-8")
    return side


def scored_file(tmp: Path, n: int = 40, name: str = "scored.jsonl", **meta: Any) -> Path:
    records = [scored_record(i) for i in range(n)]
    records[3] = failed_record(3)
    path = write_jsonl(tmp / name, records)
    write_meta(path, **meta)
    return path


def corrected_record(i: int, replaced: bool) -> dict[str, Any]:
    base = scored_record(i)
    return {**base, "response": "positive" if replaced else base["response"],
            "clearft_original_response": base["response"],
            "clearft_correction": {"candidate": "positive", "replaced": replaced,
                                   "judge_confidence": 0.91 if replaced else 0.4,
                                   "verdicts": ["B", "A"], "explanation": f"judge on row {i}",
                                   "reason": "judge_prefers_candidate" if replaced else "judge_not_confident"}}


def evidence_corrected_record(i: int, replaced: bool) -> dict[str, Any]:
    """A row the evidence judge decided (Correction.audit() with evidence): replaced when the
    classifier and the model's vote agree on "positive"; else refused (not confident), the
    classifier backing another label than the model's vote."""
    base = scored_record(i, response="negative")
    views = ({"classifier": {"label": "positive", "prob": 0.72}, "model": {"label": "positive", "prob": 1.0}}
             if replaced else {"classifier": {"label": "neutral", "prob": 0.1},
                               "model": {"label": "positive", "prob": 1.0}})
    return {**base, "response": "positive" if replaced else "negative",
            "clearft_original_response": "negative" if replaced else None,
            "clearft_correction": {
                "judge": "evidence", "candidate": "positive", "replaced": replaced,
                "reason": "replaced" if replaced else "evidence_not_confident", "label": "positive",
                "confidence": 0.86 if replaced else 0.55, "views": views,
                "errors": []}}


def run_dir(tmp: Path, n: int = 20, summary: bool = True) -> Path:
    """A `clearft run` output folder: stage files, state, summary.json."""
    d = tmp / "run"
    d.mkdir()
    records = [scored_record(i) for i in range(n)]
    write_jsonl(d / "scored.jsonl", records)
    write_meta(d / "scored.jsonl", threshold=0.5)
    write_jsonl(d / "kept.jsonl", [r for r in records if r["confidence"] >= 0.5])
    dropped = [r for r in records if r["confidence"] < 0.5]
    write_jsonl(d / "dropped.jsonl", [{**r, "clearft_keep": False, "clearft_drop_reason": "below threshold"}
                                      for r in dropped])
    write_jsonl(d / "corrected.jsonl", [corrected_record(int(r["id"][-4:]), replaced=k % 2 == 0)
                                        for k, r in enumerate(dropped)])
    if summary:
        (d / "summary.json").write_text(json.dumps({
            "stages": {"score": "done", "filter": "done", "finetune_filtered": "done", "correct": "done"},
            "accuracy": {"untuned": {"accuracy": 0.41, "n": 150}, "filtered": {"accuracy": 0.62, "n": 150},
                         "corrected": {"accuracy": 0.66, "n": 150}},
            "settings": {"seed": 11, "model_id": "SmolLM2-135M-Instruct", "threshold": 0.5, "eta": 0.8},
        }), encoding="utf-8")
    return d


def test_fixture_shapes_match_the_scored_schema(tmp_path: Path) -> None:
    path = scored_file(tmp_path, n=5)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 5
    for key in ("id", "confidence", "consistency", "self_reflection", "clearft_method",
                "clearft_evidence", "clearft_error"):
        assert all(key in r for r in lines)
    assert lines[3]["confidence"] is None and lines[3]["clearft_error"]
    assert json.loads(Path(str(path) + ".meta.json").read_text())["seed"] == 7
