"""BSDetector's scoring math (SPEC section 1): pure functions over numbers.

Reusable beyond scoring examples: the Auto-Correct judge computes the confidence of a
verdict with the same functions (consistency of sampled verdicts + self-reflection).
Missing parts are None; a mean over nothing is None, never a made-up 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# What each self-reflection verdict is worth (paper): Correct, Incorrect, Not sure.
VERDICT_VALUES: dict[str, float] = {"A": 1.0, "B": 0.0, "C": 0.5}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def sample_agreement(similarity: float, exact_match: bool | float, alpha: float) -> float:
    """o_i = alpha * s_i + (1 - alpha) * r_i for one sampled answer."""
    return alpha * similarity + (1.0 - alpha) * float(exact_match)


def observed_consistency(
    similarities: Sequence[float], exact_matches: Sequence[bool | float], alpha: float
) -> float | None:
    """O = mean over samples of o_i; None when no sample produced an answer."""
    if len(similarities) != len(exact_matches):
        raise ValueError("one exact-match indicator per similarity")
    return _mean([sample_agreement(s, r, alpha) for s, r in zip(similarities, exact_matches, strict=True)])


def verdict_certainty(
    verdict: str | None = None, probs: Mapping[str, float] | None = None
) -> float | None:
    """The certainty one reflection round expresses: expected verdict value under the
    letter probabilities when known (A=1, B=0, C=0.5), else the sampled letter's value.
    An unknown verdict is None."""
    if probs:
        total = sum(probs.get(c, 0.0) for c in VERDICT_VALUES)
        if total > 0:
            return sum(VERDICT_VALUES[c] * probs.get(c, 0.0) for c in VERDICT_VALUES) / total
    if verdict in VERDICT_VALUES:
        return VERDICT_VALUES[verdict]
    return None


def reflection_certainty(round_certainties: Sequence[float | None]) -> float | None:
    """S = mean over the rounds that gave a verdict; None when none did."""
    return _mean([c for c in round_certainties if c is not None])


def combine(consistency: float | None, self_reflection: float | None, beta: float) -> float | None:
    """C = beta * O + (1 - beta) * S. A missing part leaves the other alone; a part with
    weight 0 is ignored, so beta=1 is consistency alone and beta=0 reflection alone."""
    if beta >= 1.0:
        return consistency
    if beta <= 0.0:
        return self_reflection
    if consistency is None:
        return self_reflection
    if self_reflection is None:
        return consistency
    return beta * consistency + (1.0 - beta) * self_reflection
