"""The Auto-Correct judge for free-text targets (worked solutions, answers, passages): the
confidence estimator itself.

A free-text target has no classes for the evidence judge to vote over, and the paper's
pairwise judge ("which response is better?") is the base model's opinion, which the small
default model cannot give (SPEC 6). What the estimator measures is already out-of-sample for
a candidate: BSDetector's samples are drawn from the prompt alone, so one set of samples
scores the target (x, y) and the candidate (x, y') alike (the samples are seeded by the row,
not by its response, and the call cache answers the second scoring's sample requests). The
candidate replaces the target only when

* the estimator is confident in the candidate: C(x, y') above eta, and above C(x, y);
* where the task has a checkable final answer (a number after ``####``, a number, JSON), the
  candidate's final answer is the one a strict majority of the independent samples reached.

Pure functions here; the scoring calls live in correct.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ESTIMATOR = "estimator"

# Why a row was or was not replaced, by the estimator judge.
REPLACED = "replaced"
PREFERS_TARGET = "estimator_prefers_target"
NOT_CONFIDENT = "estimator_not_confident"
SAMPLES_DISAGREE = "samples_disagree_with_candidate"
NO_SCORE = "estimator_no_score"

# The metrics (clearft/answers.py choose_metric) whose targets carry a checkable answer.
CHECKABLE = ("gsm8k", "number", "json")


@dataclass
class TextDecision:
    target_confidence: float | None
    candidate_confidence: float | None
    candidate_answer: str | None  # the candidate's final answer (checkable tasks)
    majority_answer: str | None  # the answer a strict majority of the samples reached
    sample_answers: list[str | None]
    reason: str

    @property
    def replaced(self) -> bool:
        return self.reason == REPLACED

    def audit(self) -> dict[str, Any]:
        return {"target_confidence": self.target_confidence, "candidate_confidence": self.candidate_confidence,
                "candidate_answer": self.candidate_answer, "majority_answer": self.majority_answer,
                "sample_answers": self.sample_answers}


def answer_kind(targets: Sequence[str]) -> str | None:
    """Which checkable final answer the targets have (a CHECKABLE metric), else None."""
    from clearft.answers import choose_metric

    metric = choose_metric(targets)
    return metric if metric in CHECKABLE else None


def final_answer(text: str | None, kind: str | None) -> str | None:
    """The final answer of a reply or target, in a form two answers can be compared in."""
    if text is None or kind is None:
        return None
    from clearft.answers import extract_json, extract_number

    if kind == "json":
        try:
            return json.dumps(extract_json(text), sort_keys=True, ensure_ascii=False)
        except ValueError:
            return None
    return extract_number(text)


def majority(answers: Sequence[str | None]) -> str | None:
    """The answer more than half of the samples reached (unparsed samples count against)."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    value, n = counts.most_common(1)[0]
    return value if 2 * n > len(answers) else None


def decide_text(target_confidence: float | None, candidate_confidence: float | None,
                candidate_answer: str | None, sample_answers: Sequence[str | None],
                checkable: bool, eta: float) -> TextDecision:
    """The gate: confident in the candidate, more than in the target, and (checkable tasks)
    the candidate's answer is the samples' majority."""
    top = majority(sample_answers) if checkable else None

    def decided(reason: str) -> TextDecision:
        return TextDecision(target_confidence, candidate_confidence, candidate_answer, top,
                            list(sample_answers), reason)

    if candidate_confidence is None:
        return decided(NO_SCORE)
    if target_confidence is not None and candidate_confidence <= target_confidence:
        return decided(PREFERS_TARGET)
    if candidate_confidence <= eta:
        return decided(NOT_CONFIDENT)
    if checkable and (candidate_answer is None or candidate_answer != top):
        return decided(SAMPLES_DISAGREE)
    return decided(REPLACED)
