"""Parsing model output: pure functions from text (or token log-probabilities) to values.

A failed parse returns None; the caller retries a bounded number of times and then
records "unknown" with the raw text. Nothing here guesses a verdict from prose.
"""

from __future__ import annotations

import math
import re
import string

_ANSWER_RE = re.compile(r"answer\s*[:：]", re.IGNORECASE)
_RATING_RE = re.compile(r"rating\s*[:：]", re.IGNORECASE)
_FENCE_RE = re.compile(r"```[a-zA-Z]*")
# Wrappers a model puts around a short answer: brackets, quotes, markdown emphasis.
_WRAP = " \t\r\n*_`\"'[]()<>{}"
# Below this total probability on the allowed letters, the first token was not a letter.
MIN_CHOICE_MASS = 0.05


def _strip_fences(text: str) -> str:
    return _FENCE_RE.sub("", text)


def extract_answer(text: str) -> str | None:
    """The text after the last "answer:" (the CoT template's answer), or None if absent."""
    text = _strip_fences(text)
    matches = list(_ANSWER_RE.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end():].strip()
    # A one-line answer ends at the line break or a trailing "explanation:".
    rest = re.split(r"\n\s*\n|explanation\s*[:：]", rest, maxsplit=1, flags=re.IGNORECASE)[0]
    rest = rest.strip().strip(_WRAP).rstrip(".,;:").strip(_WRAP)
    return rest or None


def parse_choice(text: str, letters: str = "ABC") -> str | None:
    """The letter chosen after "answer:", if it is one of `letters`; else None.

    Accepts "answer: A", "answer: (B)", "answer: **C** I am not sure", "Answer: [A]", and a
    reply that is nothing but a letter ("(A)", "[b]."): the small default model often answers
    so. A wrong letter ("D"), a word ("Correct") or prose without "answer:" gives None.
    """
    answer = extract_answer(text)
    if answer is None:
        bare = re.fullmatch(r"[\s(\[*_`'\"]*([A-Za-z])[\s)\]*_`'\".]*", text)
        letter = bare.group(1).upper() if bare else None
        return letter if letter and letter in letters else None
    m = re.match(r"[\s(\[*_`'\"]*([A-Za-z])(?![A-Za-z])", answer)
    if not m:
        return None
    letter = m.group(1).upper()
    return letter if letter in letters else None


def parse_rating(text: str, low: int = 1, high: int = 5) -> int | None:
    """The integer after the last "rating:", if within [low, high]; else None."""
    text = _strip_fences(text)
    matches = list(_RATING_RE.finditer(text))
    if not matches:
        return None
    m = re.match(r"[\s\[*_`'\"(]*(\d+)", text[matches[-1].end():])
    if not m:
        return None
    value = int(m.group(1))
    return value if low <= value <= high else None


def _token_key(token: str) -> str:
    return token.strip().strip(_WRAP).upper()


def choice_probabilities(
    logprobs: dict[str, float] | None, choices: tuple[str, ...] = ("A", "B", "C")
) -> dict[str, float] | None:
    """Probabilities of `choices`, renormalised, from the top log-probabilities of a token.

    Tokens that differ only by spaces, brackets or case (" A", "(A", "a") add up. Returns
    None when the choices hold less than MIN_CHOICE_MASS: the model meant something else.
    """
    if not logprobs:
        return None
    mass = dict.fromkeys(choices, 0.0)
    for token, lp in logprobs.items():
        key = _token_key(token)
        if key in mass:
            mass[key] += math.exp(lp)
    total = sum(mass.values())
    if total < MIN_CHOICE_MASS:
        return None
    return {c: p / total for c, p in mass.items()}


def explanation_after_letter(text: str) -> str:
    """What a letter-first reply says after its letter ("B, explanation: x" -> "x")."""
    m = re.search(r"explanation\s*[:：]", text, re.IGNORECASE)
    if m:
        return text[m.end():].strip()
    return re.sub(r"^[\s(\[*]*[A-Za-z](?![A-Za-z])[)\]*.,:]*", "", text).strip()


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation for the exact-match indicator: case, punctuation,
    articles and whitespace do not count. A lone "A" is a choice letter, not an article."""
    words = text.lower().translate(_PUNCT).split()
    if len(words) > 1:
        words = [w for w in words if not _ARTICLES.fullmatch(w)] or words
    return " ".join(words)


def extract_sample_answer(text: str) -> tuple[str, str] | None:
    """(answer, where it came from) for a consistency sample: the text after "answer:" as
    the template asks; small models often skip the template and answer on the first line
    ("C. positive"), so that line is the answer then, marked "first line" in the evidence.
    None only for an empty reply."""
    answer = extract_answer(text)
    if answer is not None:
        return answer, "answer:"
    for line in _strip_fences(text).splitlines():
        line = line.strip().strip(_WRAP)
        if line:
            return line, "first line"
    return None


# Targets longer than this many words are worked solutions or passages, not answers.
LONG_TARGET_WORDS = 20


def compares_whole_reply(target: str, compare: str) -> bool:
    """Whether a consistency sample's whole reply (not its parsed answer) is compared with
    this target: always for compare="reply", for long targets under "auto"."""
    return compare == "reply" or (compare == "auto" and len(target.split()) > LONG_TARGET_WORDS)


def final_answers_match(reply: str, target: str) -> bool:
    """The exact-match indicator for a worked-solution target: the final numbers agree (after
    '####' or 'answer', else the last number). False when the target has no number."""
    from clearft.answers import extract_number

    wanted = extract_number(target)
    return wanted is not None and extract_number(reply) == wanted


def answers_match(answer: str, target: str) -> bool:
    """The exact-match indicator r_i: equal after normalisation, or, for a one-word target
    such as a choice letter or a label, the answer's first word ("C. positive" vs "C")."""
    a, t = normalize_answer(answer), normalize_answer(target)
    if a == t:
        return True
    return bool(t) and " " not in t and a.split(" ", 1)[0] == t
