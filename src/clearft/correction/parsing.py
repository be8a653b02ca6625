"""Reading the judge's replies. A reply that does not parse is "unknown", never a verdict."""

from __future__ import annotations

import math
import re

LETTERS = ("A", "B", "C")
UNKNOWN = "unknown"

_FENCE = re.compile(r"```[a-zA-Z]*")
# After "answer:": an optional bracket, one letter, then no further letter (so "answer: Because"
# is not read as B).
_AFTER_ANSWER = re.compile(
    r"^\s*(?:response\s*|choice\s*|option\s*)?[\(\[\*\"']*\s*([A-Za-z])(?![A-Za-z])", re.IGNORECASE
)
# Choice (C) spelled out instead of its letter.
_NOT_SURE = re.compile(r"^\s*(?:i\s*am|i'm)?\s*not\s+sure", re.IGNORECASE)
_ONLY_LETTER = re.compile(r"^\s*[\(\[\*\"']*\s*([A-Za-z])\s*[\)\]\*\"']*\s*[.:]?\s*$")
_ANSWER_IS = re.compile(
    r"\b(?:answer|choice|option|verdict)\s+is\s*:?\s*[\(\[\*\"']*([A-Za-z])(?![A-Za-z])",
    re.IGNORECASE,
)


def parse_letter(text: str, allowed: tuple[str, ...] = LETTERS) -> str:
    """The letter a judge chose, from "explanation: ..., answer: B", "(B)", fenced text, or
    "the answer is B". Anything else, or a letter outside `allowed`, is UNKNOWN."""
    if not text:
        return UNKNOWN
    clean = _FENCE.sub(" ", text).strip()
    lowered = clean.lower()
    idx = lowered.rfind("answer:")
    if idx >= 0:
        rest = clean[idx + len("answer:"):]
        m = None if _NOT_SURE.match(rest) else _AFTER_ANSWER.match(rest)
        letter = m.group(1).upper() if m else ("C" if _NOT_SURE.match(rest) else None)
    else:
        m = _ONLY_LETTER.match(clean) or _ANSWER_IS.search(clean)
        letter = m.group(1).upper() if m else None
    return letter if letter in allowed else UNKNOWN


def parse_explanation(text: str) -> str:
    """The judge's explanation: the text between "explanation:" and "answer:" (or all of it)."""
    clean = _FENCE.sub(" ", text or "").strip()
    lowered = clean.lower()
    start = lowered.find("explanation:")
    start = start + len("explanation:") if start >= 0 else 0
    end = lowered.rfind("answer:")
    if end < start:
        end = len(clean)
    return clean[start:end].strip(" ,\n")


def letter_probs(
    first_token_logprobs: dict[str, float] | None, min_mass: float = 1e-4
) -> dict[str, float] | None:
    """P(A), P(B), P(C) from a first token's top log-probabilities, renormalised over the
    three letters. Tokens such as " B" or "(B" count for B. None when the letters carry
    (almost) no mass: the model was not answering with a letter, so there is no verdict."""
    if not first_token_logprobs:
        return None
    mass = dict.fromkeys(LETTERS, 0.0)
    for token, logprob in first_token_logprobs.items():
        letter = token.strip().lstrip("([*\"'").strip().upper()
        if letter in mass:
            mass[letter] += math.exp(logprob)
    total = sum(mass.values())
    if total < min_mass:
        return None
    return {k: v / total for k, v in mass.items()}
