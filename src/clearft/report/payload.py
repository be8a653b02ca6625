"""Turn loaded rows into the report's data: pure functions, no I/O, no HTML.

The payload is what the page's script reads (rows for the table and the detail views) plus
the numbers the static parts show (histogram bins, agreement between methods, run settings).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import median
from typing import Any

from clearft.report.load import ReportInput, Row

HISTOGRAM_BINS = 20
SCATTER_POINTS = 2000  # an SVG with 100,000 circles would be slow to open; a sample shows the shape


def _clean_number(value: Any) -> float | None:
    """JSON has no NaN or infinity; a number the page cannot show becomes null."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def _number_or_text(value: Any) -> float | str | None:
    """Method-specific evidence (perplexity, predicted_prob, ...): numbers stay numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _clean_number(value)
    return _text(value)


def _samples(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for s in evidence.get("samples") or []:
        if isinstance(s, dict):
            out.append({
                "text": _text(s.get("text")),
                "answer": _text(s.get("answer")),
                "similarity": _clean_number(s.get("similarity")),
                "exact_match": s.get("exact_match") if isinstance(s.get("exact_match"), bool) else None,
            })
    return out


def _reflections(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in evidence.get("reflections") or []:
        if isinstance(r, dict):
            probs = r.get("probs")
            out.append({
                "round": _text(r.get("round")),
                "verdict": _text(r.get("verdict")),
                "probs": {_text(k): _clean_number(v) for k, v in probs.items()}
                if isinstance(probs, dict) else None,
                "explanation": _text(r.get("explanation")),
                "raw": _text(r.get("raw")),
            })
    return out


def _views(views: Any, label: str) -> list[dict[str, Any]]:
    """The evidence judge's views (correction/evidence.py), in the order it recorded them:
    each view's own top label, its probability of the label the judge settled on, and whether
    it agrees (its top label is that label)."""
    if not isinstance(views, dict):
        return []
    out = []
    for name, view in views.items():
        if isinstance(view, dict):
            top = _text(view.get("label"))
            out.append({"name": _text(name), "label": top, "prob": _clean_number(view.get("prob")),
                        "agrees": bool(label) and top == label})
    return out


def _correction(record: dict[str, Any]) -> dict[str, Any] | None:
    correction = record.get("clearft_correction")
    if not isinstance(correction, dict):
        return None
    verdicts = correction.get("verdicts")
    errors = correction.get("errors")
    judge = _text(correction.get("judge")) or "llm"  # files from before the evidence judge: llm
    shown = {"judge", "candidate", "replaced", "reason", "errors", "judge_confidence", "verdicts",
             "explanation", "label", "confidence", "views"}
    label = _text(correction.get("label")) if judge == "evidence" else ""
    return {
        "judge": judge,
        "original": _text(record.get("clearft_original_response")),
        "candidate": _text(correction.get("candidate")),
        "replaced": bool(correction.get("replaced")),
        # Why the row was (not) replaced: the refusals' reasons are what a reviewer reads first.
        "reason": _text(correction.get("reason")),
        "errors": [_text(e) for e in errors if e] if isinstance(errors, list) else [],
        "judge_confidence": _clean_number(correction.get("judge_confidence")),
        "verdicts": [_text(v) for v in verdicts] if isinstance(verdicts, list) else [],
        "explanation": _text(correction.get("explanation")),
        # The evidence judge: the label it settled on, the views' mean probability of it
        # (the confidence the gate compares with eta), and each view.
        "label": label,
        "confidence": _clean_number(correction.get("confidence")) if judge == "evidence" else None,
        "views": _views(correction.get("views"), label) if judge == "evidence" else [],
        "details": {_text(k): _number_or_text(v) for k, v in correction.items() if k not in shown},
    }


# Record fields shown elsewhere in the detail view (or pure bookkeeping), not under "other fields".
_SHOWN_ELSEWHERE = {
    "id", "confidence", "consistency", "self_reflection", "clearft_method", "clearft_evidence",
    "clearft_error", "clearft_original_response", "clearft_correction", "clearft_drop_reason",
    "clearft_keep",
}


def _other_fields(record: dict[str, Any], row: Row) -> dict[str, str]:
    """The user's remaining columns, less those already shown as the prompt or the target
    (a column equal to the target, or contained in the prompt, would only repeat it)."""
    out = {}
    for key, value in record.items():
        if key in _SHOWN_ELSEWHERE or key.startswith("confidence__"):
            continue
        text = _text(value)
        if text and (text == row.target or text in row.prompt):
            continue
        out[_text(key)] = text
    return out


def row_payload(index: int, row: Row, methods: list[str], threshold: float | None) -> dict[str, Any]:
    """One table row and its detail view, every value plain JSON (text shown via textContent)."""
    record = row.record
    evidence = record.get("clearft_evidence")
    evidence = evidence if isinstance(evidence, dict) else {}
    confidence = _clean_number(record.get("confidence"))
    status = row.status
    if not status and threshold is not None and confidence is not None:
        status = "below threshold" if confidence < threshold else "above threshold"
    if record.get("clearft_error"):
        status = status or "error"
    known = {"samples", "reflections", "unknown"}
    return {
        "n": index + 1,
        "id": row.id,
        "confidence": confidence,
        "consistency": _clean_number(record.get("consistency")),
        "self_reflection": _clean_number(record.get("self_reflection")),
        "scores": [_clean_number(row.scores.get(m)) for m in methods[1:]],
        "method": _text(record.get("clearft_method")),
        "error": _text(record.get("clearft_error")) or None,
        "drop_reason": _text(record.get("clearft_drop_reason")) or None,
        "status": status,
        "prompt": row.prompt,
        "target": row.target,
        "samples": _samples(evidence),
        "reflections": _reflections(evidence),
        "unknown": _clean_number(evidence.get("unknown")),
        "evidence_other": {_text(k): _number_or_text(v) for k, v in evidence.items() if k not in known},
        "correction": _correction(record),
        "other": _other_fields(record, row),
    }


# ---------------------------------------------------------------- numbers for the charts


def histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts of values in `bins` equal bins over [0, 1]; 1.0 falls in the last bin."""
    counts = [0] * bins
    for v in values:
        i = min(bins - 1, max(0, int(v * bins)))
        counts[i] += 1
    return counts


def average_ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation of paired values; None when undefined (n < 3 or constant)."""
    if len(x) != len(y) or len(x) < 3:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def method_columns(rows: list[dict[str, Any]], n_methods: int) -> list[list[float | None]]:
    """Per method, its score on every row (method 0 is the main confidence)."""
    columns: list[list[float | None]] = [[r["confidence"] for r in rows]]
    for j in range(n_methods - 1):
        columns.append([r["scores"][j] for r in rows])
    return columns


def _paired(a: list[float | None], b: list[float | None]) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for u, v in zip(a, b, strict=True):
        if u is not None and v is not None:
            xs.append(u)
            ys.append(v)
    return xs, ys


def agreement(methods: list[str], columns: list[list[float | None]]) -> dict[str, Any]:
    """Rank correlation between every pair of methods, and how many rows each pair shares."""
    m = len(methods)
    matrix: list[list[float | None]] = [[None] * m for _ in range(m)]
    shared = [[0] * m for _ in range(m)]
    for i in range(m):
        for j in range(i, m):
            xs, ys = _paired(columns[i], columns[j])
            rho = 1.0 if i == j and len(xs) >= 1 else spearman(xs, ys)
            matrix[i][j] = matrix[j][i] = rho
            shared[i][j] = shared[j][i] = len(xs)
    return {"methods": methods, "spearman": matrix, "shared": shared}


def scatter_sample(x: list[float | None], y: list[float | None], limit: int = SCATTER_POINTS,
                   seed: int = 0) -> list[tuple[float, float]]:
    """Up to `limit` pairs, a seeded sample so the same data draws the same picture."""
    xs, ys = _paired(x, y)
    points = list(zip(xs, ys, strict=True))
    if len(points) > limit:
        points = random.Random(seed).sample(points, limit)
    return points


# ---------------------------------------------------------------- the whole payload


@dataclass
class ChartData:
    bins: list[int]
    threshold: float | None
    n_scored: int
    median: float | None


def choose_threshold(explicit: float | None, report_input: ReportInput) -> float | None:
    """The threshold to draw: the user's, else the filter's (meta), else the run's settings."""
    if explicit is not None:
        return explicit
    summary = report_input.run_summary or {}
    filter_stage = (summary.get("stages") or {}).get("filter")
    for source in (report_input.meta, summary.get("settings") or {}, filter_stage or {}):
        value = _clean_number(source.get("threshold")) if isinstance(source, dict) else None
        if value is not None:
            return value
    return None


def build_payload(report_input: ReportInput, threshold: float | None = None,
                  page_size: int = 50, title: str | None = None) -> dict[str, Any]:
    chosen = choose_threshold(threshold, report_input)
    rows = [row_payload(i, r, report_input.methods, chosen) for i, r in enumerate(report_input.rows)]
    scored = [r["confidence"] for r in rows if r["confidence"] is not None]
    columns = method_columns(rows, len(report_input.methods))
    agree = agreement(report_input.methods, columns) if len(report_input.methods) > 1 else None
    scatter = None
    if agree is not None:
        scatter = {"x": report_input.methods[0], "y": report_input.methods[1],
                   "points": scatter_sample(columns[0], columns[1])}
    summary = report_input.run_summary or {}
    status_counts: dict[str, int] = {}
    for r in rows:
        if r["status"]:
            status_counts[r["status"]] = status_counts.get(r["status"], 0) + 1
    return {
        "title": title or f"clearft report: {', '.join(report_input.sources)}",
        "sources": report_input.sources,
        "methods": report_input.methods,
        "page_size": page_size,
        "threshold": chosen,
        "chart": ChartData(bins=histogram(scored), threshold=chosen, n_scored=len(scored),
                           median=median(scored) if scored else None).__dict__,
        "counts": {
            "rows": len(rows),
            "scored": len(scored),
            "errors": sum(1 for r in rows if r["error"]),
            # model outputs that never parsed: counted as unknown, never taken as a verdict
            "unknown_outputs": int(sum(r["unknown"] or 0 for r in rows)),
            "corrected": sum(1 for r in rows if r["correction"] and r["correction"]["replaced"]),
            "below_threshold": sum(1 for v in scored if chosen is not None and v < chosen),
            "status": status_counts,
        },
        "agreement": agree,
        "scatter": scatter,
        "accuracy": summary.get("accuracy") if isinstance(summary.get("accuracy"), dict) else None,
        "stages": summary.get("stages") if isinstance(summary.get("stages"), dict) else None,
        "settings": report_input.meta or (summary.get("settings") or {}),
        "run_settings": summary.get("settings") if isinstance(summary.get("settings"), dict) else None,
        "warnings": report_input.warnings,
        "rows": rows,
    }
