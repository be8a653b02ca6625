"""Reading answers out of model replies: normalisation, extraction and the kind of answer a
set of targets holds. Pure functions, no model calls; shared by scoring (parsing numeric
answers), Auto-Correct (checkable answers) and evaluation (its metrics), so it sits below
all three.

Answer kinds, the metrics (``choose_metric`` picks one from the test targets; users can
override):

* ``choice``: the target is an option letter (A, B, ...). The prediction's letter is read
  from prose ("The answer is B", "B.", "answer: (B)") or from the option text itself.
* ``gsm8k``: the target ends in "#### <number>"; the number is compared numerically.
* ``number``: the target is a bare number.
* ``json``: the target is JSON; the score is whether the prediction is valid JSON (the rate
  of valid structured outputs), and ``json_exact`` (same value) is reported beside it.
* ``label``: a short label from a small set (an intent, a sentiment); normalised exact match,
  also found inside prose ("The intent is card_arrival.").
* ``text``: normalised exact match (SQuAD-style), with token F1 reported beside it.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

METRICS = ("choice", "gsm8k", "number", "json", "label", "text")
LETTERS = "ABCDEFGHIJ"

# ---------------------------------------------------------------- normalisation

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD's normalisation)."""
    text = text.lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, target: str) -> float:
    pred, gold = normalize_text(prediction).split(), normalize_text(target).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def strip_fences(text: str) -> str:
    """The inside of a ``` code fence if the text has one, else the text."""
    m = re.search(r"```[a-zA-Z]*\s*\n?(.*?)```", text, re.S)
    return m.group(1).strip() if m else text.strip()


# ---------------------------------------------------------------- extraction

_CHOICE_PATTERNS = [
    # "answer: B", "Answer is (B)", "the correct answer is option B", "final answer - B".
    # Only the keywords ignore case: a lower-case "a" is an article, not option A.
    r"(?i:answer)\s*(?:is|:|=|-)?\s*(?:(?i:option)\s*)?\(?\s*([A-J])\b",
    r"(?i:option)\s*\(?([A-J])\b",
    # "(B)" anywhere
    r"\(([A-J])\)",
    # "B." / "B)" / "B:" / a line that is just "B" ("A positive..." is prose, not option A)
    r"^\s*\**([A-J])\**\s*(?:[.):]|$)",
]


def parse_options(value: Any) -> list[str] | None:
    """Option texts from a record field: a list, or a JSON list in a string."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return None


def extract_choice(text: str, options: Sequence[str] | None = None, n_choices: int | None = None) -> str | None:
    """The option letter a reply picks, or None if it picks none (or is ambiguous)."""
    n = len(options) if options else (n_choices or len(LETTERS))
    valid = LETTERS[:n]
    body = strip_fences(text)
    for pattern in _CHOICE_PATTERNS:
        m = re.search(pattern, body, re.M)
        if m and m.group(1).upper() in valid:
            return m.group(1).upper()
    if options:
        return _choice_by_option_text(body, options)
    return None


def _choice_by_option_text(text: str, options: Sequence[str]) -> str | None:
    """The letter whose option text the reply states: the whole reply first, then the one
    option named in it (several named -> ambiguous, None)."""
    norm = normalize_text(text)
    normalized = [normalize_text(o) for o in options]
    for i, opt in enumerate(normalized):
        if opt and norm == opt:
            return LETTERS[i]
    found = [i for i, opt in enumerate(normalized) if opt and re.search(rf"\b{re.escape(opt)}\b", norm)]
    # An option inside another ("positive" in "not positive") is rare; take the longest if one
    # contains all the others, else give up rather than guess.
    if len(found) == 1:
        return LETTERS[found[0]]
    if found:
        longest = max(found, key=lambda i: len(normalized[i]))
        if all(normalized[i] in normalized[longest] for i in found):
            return LETTERS[longest]
    return None


_NUMBER = r"-?\$?\d[\d,]*(?:\.\d+)?"


def normalize_number(text: str) -> str | None:
    """'1,000' -> '1000', '$18.00' -> '18', '-3.50' -> '-3.5'; None if it is not a number."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value == int(value):
        return str(int(value))
    return repr(value)


def extract_number(text: str) -> str | None:
    """The final numeric answer: after '####', else after 'answer', else the last number."""
    body = strip_fences(text)
    for pattern in (rf"####\s*({_NUMBER})", rf"answer\s*(?:is|:|=)?\s*({_NUMBER})"):
        m = re.search(pattern, body, re.I)
        if m:
            return normalize_number(m.group(1))
    numbers = re.findall(_NUMBER, body)
    return normalize_number(numbers[-1]) if numbers else None


def extract_json(text: str) -> Any:
    """The JSON value in a reply (fences allowed, prose around an object allowed), or raise ValueError."""
    body = strip_fences(text)
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        pass
    m = re.search(r"(\{.*\}|\[.*\])", body, re.S)
    if m:
        try:
            return json.loads(m.group(1))
        except json.JSONDecodeError:
            pass
    raise ValueError("no valid JSON")


def extract_label(text: str, labels: Sequence[str]) -> str | None:
    """The label a reply names: the whole reply, else 'label: X' / first line, else the one
    label mentioned (the longest if one contains the others)."""
    norm_labels = {normalize_text(lab): lab for lab in labels}
    body = strip_fences(text)
    candidates = [body]
    m = re.search(r"(?:answer|label|intent|category|sentiment)\s*(?:is|:|=)\s*(.+)", body, re.I)
    if m:
        candidates.append(m.group(1))
    if body:
        candidates.append(body.splitlines()[0])
    for cand in candidates:
        key = normalize_text(cand)
        if key in norm_labels:
            return norm_labels[key]
    norm_body = normalize_text(body)
    found = [n for n in norm_labels if n and re.search(rf"\b{re.escape(n)}\b", norm_body)]
    if len(found) == 1:
        return norm_labels[found[0]]
    if found:
        longest = max(found, key=len)
        if all(f in longest for f in found):
            return norm_labels[longest]
    return None


# ---------------------------------------------------------------- choosing


def _is_json(text: str) -> bool:
    s = text.strip()
    if not s or s[0] not in "[{":
        return False
    try:
        json.loads(s)
    except json.JSONDecodeError:
        return False
    return True


def choose_metric(targets: Sequence[str]) -> str:
    """The metric the test targets call for (see the module docstring for the rules)."""
    ts = [t.strip() for t in targets if t is not None]
    if not ts:
        return "text"
    if all(len(t) == 1 and t in LETTERS for t in ts):
        return "choice"
    if all(re.search(rf"####\s*{_NUMBER}\s*$", t) for t in ts):
        return "gsm8k"
    if all(normalize_number(t) is not None for t in ts):
        return "number"
    if all(_is_json(t) for t in ts):
        return "json"
    distinct = {normalize_text(t) for t in ts}
    short = all(len(t.split()) <= 4 for t in ts)
    if short and len(distinct) <= max(2, min(100, len(ts) // 2)):
        return "label"
    return "text"
