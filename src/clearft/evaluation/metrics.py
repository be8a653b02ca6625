"""Scoring a model's prediction against its target, under the metric the task needs.

The answer reading itself (normalisation, extraction, which metric the targets call for)
lives in clearft/answers.py; its names stay importable from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from clearft.answers import (
    LETTERS,
    METRICS,
    choose_metric,
    extract_choice,
    extract_json,
    extract_label,
    extract_number,
    normalize_number,
    normalize_text,
    parse_options,
    strip_fences,
    token_f1,
)

__all__ = [
    "LETTERS", "METRICS", "RowScore", "choose_metric", "extract_choice", "extract_json",
    "extract_label", "extract_number", "normalize_number", "normalize_text", "parse_options",
    "score_prediction", "strip_fences", "token_f1",
]


@dataclass
class RowScore:
    score: float  # 1.0 right, 0.0 wrong (token F1 in between only for the `f1` extra)
    extracted: str | None  # what was read from the prediction (None: nothing parseable)
    extras: dict[str, float] = field(default_factory=dict)


def score_prediction(
    metric: str,
    prediction: str,
    target: str,
    *,
    options: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
) -> RowScore:
    """Score one prediction against its target under `metric`."""
    if metric == "choice":
        got = extract_choice(prediction, options)
        return RowScore(float(got == target.strip().upper()), got)
    if metric in ("gsm8k", "number"):
        got = extract_number(prediction)
        want = extract_number(target) if metric == "gsm8k" else normalize_number(target)
        return RowScore(float(got is not None and got == want), got)
    if metric == "json":
        try:
            value = extract_json(prediction)
        except ValueError:
            return RowScore(0.0, None, {"json_exact": 0.0})
        try:
            exact = float(value == json.loads(target))
        except json.JSONDecodeError:
            exact = 0.0
        return RowScore(1.0, json.dumps(value, ensure_ascii=False), {"json_exact": exact})
    if metric == "label":
        got = extract_label(prediction, list(labels) if labels else [target])
        return RowScore(float(got is not None and normalize_text(got) == normalize_text(target)), got)
    if metric == "text":
        em = float(normalize_text(prediction) == normalize_text(target))
        return RowScore(em, prediction.strip(), {"f1": token_f1(prediction, target)})
    raise ValueError(f"unknown metric {metric!r}; choose one of: auto, {', '.join(METRICS)}")
