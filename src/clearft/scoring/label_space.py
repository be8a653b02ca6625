"""The one label-space rule: are a dataset's targets labels?

Targets are labels when they are short and a few distinct values each recur, over at least
MIN_ROWS rows. Scoring ("auto" -> embedding-classifier), cross-fit (target probabilities
normalised over the labels) and Auto-Correct (the evidence judge, candidates kept within the
labels, the classifier view) all ask this one rule, with the same row minimum, so a small
file is labels for all of them or for none.

The rule is asked of one of two views of a target, and they differ only for choice letters
whose options differ from row to row:
- the target as written (`target_labels`): a closed set of answers a model can be asked to
  pick from (ARC's A-D are one);
- the class it stands for (`class_space`, via `label_of`): a choice letter counts as its
  option's text, so FPB's letters are three classes and ARC's are not classes at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from clearft.data.example import Example
from clearft.scoring.parsing import normalize_answer

# Fewer rows than this are never labels: a classifier's folds (5 by default) would not each
# hold two rows, and a label that "recurs" twice in six rows is no evidence of a class.
MIN_ROWS = 10
# More distinct values than this are never labels (also the default of the configs'
# max_label_values).
MAX_VALUES = 100
MAX_LABEL_WORDS = 8
_OPTION_LINE = r"^\s*\(?{letter}[.):]\s+(.+?)\s*$"


def label_of(ex: Example) -> str:
    """The class a target stands for. A choice letter stands for its option's text when the
    prompt lists options ("C. positive"): FPB's "C" is always "positive", a class; ARC's
    "C" is a different answer in every question, not a class at all."""
    target = ex.response.strip()
    if len(target) == 1 and target.isalpha():
        m = re.search(_OPTION_LINE.format(letter=re.escape(target)), ex.prompt_text, re.MULTILINE)
        if m:
            return m.group(1)
    return target


def _distinct_if_labels(values: Iterable[str], max_values: int) -> set[str] | None:
    """The distinct values as given when they are labels, else None. Streams: stops at the
    first long value or once there are too many distinct (normalised) values."""
    given: set[str] = set()
    normalised: set[str] = set()
    rows = 0
    for v in values:
        rows += 1
        if len(v.split()) > MAX_LABEL_WORDS:
            return None
        given.add(v)
        normalised.add(normalize_answer(v))
        if len(normalised) > max_values:
            return None
    return given if rows >= MIN_ROWS and len(normalised) <= rows / 2 else None


def looks_like_labels(values: Iterable[str], max_values: int = MAX_VALUES) -> bool:
    """The rule itself, on values already in the view the caller needs."""
    return _distinct_if_labels(values, max_values) is not None


def target_labels(responses: Iterable[str], max_values: int = MAX_VALUES) -> list[str] | None:
    """The distinct targets as written (stripped), sorted, when they are labels, else None."""
    found = _distinct_if_labels((r.strip() for r in responses), max_values)
    return sorted(found) if found is not None else None


def class_space(examples: Iterable[Example], max_values: int = MAX_VALUES) -> frozenset[str] | None:
    """The classes the targets stand for (`label_of`), when they are labels, else None."""
    found = _distinct_if_labels((label_of(ex) for ex in examples), max_values)
    return frozenset(found) if found is not None else None
