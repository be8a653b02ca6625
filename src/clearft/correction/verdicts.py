"""The judge's verdict and its BSDetector-style confidence: pure math over parsed replies.

Everything is expressed as "the candidate is better" so that the two orders can be pooled:
in the order original-first the candidate is (B), in candidate-first it is (A).

* preference P: per order, P(candidate) + 1/2 P(not sure) (from letter probabilities, or
  1 / 0 / 0.5 for a generated letter); averaged over both orders, so position bias cancels.
  The judge prefers the candidate when P > 1/2.
* consistency O: the share of sampled verdicts (both orders, temperature 1) that pick the
  candidate; unparsable samples are left out and counted, never read as a verdict.
* reflection S: the judge's certainty that "the candidate is better" is correct
  (A = 1, B = 0, C = 0.5 as in SPEC 1), averaged over both orders.
* confidence C = beta * O + (1 - beta) * S, the same combination as the scorer's.
"""

from __future__ import annotations

from collections.abc import Sequence

from clearft.correction.parsing import UNKNOWN
from clearft.correction.prompts import candidate_letter
from clearft.scoring import bsdetector

CANDIDATE = "candidate"
ORIGINAL = "original"
UNSURE = "unsure"

def side_of(letter: str, order: str) -> str:
    """What a judge letter means in one order: candidate, original, unsure or unknown."""
    if letter == "C":
        return UNSURE
    if letter in ("A", "B"):
        return CANDIDATE if letter == candidate_letter(order) else ORIGINAL
    return UNKNOWN


def preference_from_probs(probs: dict[str, float], order: str) -> float:
    cand = candidate_letter(order)
    total = probs.get("A", 0.0) + probs.get("B", 0.0) + probs.get("C", 0.0)
    if total <= 0:
        raise ValueError("letter probabilities carry no mass")
    return (probs.get(cand, 0.0) + 0.5 * probs.get("C", 0.0)) / total


def preference_from_letter(letter: str, order: str) -> float | None:
    side = side_of(letter, order)
    return {CANDIDATE: 1.0, ORIGINAL: 0.0, UNSURE: 0.5}.get(side)


def mean_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def consistency(sample_sides: Sequence[str]) -> float | None:
    """Share of parsed sampled verdicts that pick the candidate; None if none parsed.

    BSDetector's observed consistency with agreement = "same verdict" (the exact-match
    indicator and the similarity coincide for a letter)."""
    agree = [1.0 if s == CANDIDATE else 0.0 for s in sample_sides if s != UNKNOWN]
    return bsdetector.observed_consistency(agree, agree, alpha=1.0)


def reflection_certainty(letter: str, probs: dict[str, float] | None = None) -> float | None:
    """Certainty of one reflection on "the candidate is better" (A=1, B=0, C=0.5; expected
    value under the letter probabilities when known); None for an unparsable reply."""
    return bsdetector.verdict_certainty(letter, probs)


def combine(consistency_value: float | None, reflection_value: float | None, beta: float) -> float | None:
    """C = beta * O + (1 - beta) * S, exactly the scorer's combination."""
    return bsdetector.combine(consistency_value, reflection_value, beta)


# Why a row was or was not replaced (recorded in clearft_correction["reason"]).
REPLACED = "replaced"
CANDIDATE_SAME = "candidate_same"
CANDIDATE_ERROR = "candidate_error"  # the candidate model failed for this row
CANDIDATE_NOT_A_LABEL = "candidate_not_a_label"  # refused: label targets take only the dataset's labels
CANDIDATE_WRONG_FORMAT = "candidate_wrong_format"  # refused: the record format cannot hold it
JUDGE_UNKNOWN = "judge_unknown"
PREFERS_ORIGINAL = "judge_does_not_prefer_candidate"
NOT_CONFIDENT = "judge_not_confident"


def decide(preference: float | None, confidence: float | None, eta: float) -> str:
    """Replace only when the judge prefers the candidate with confidence strictly above eta."""
    if preference is None or confidence is None:
        return JUDGE_UNKNOWN
    if preference <= 0.5:
        return PREFERS_ORIGINAL
    if confidence <= eta:
        return NOT_CONFIDENT
    return REPLACED
