"""``embedding-knn``: for classification-like data, how likely is the given label?

In the spirit of confident learning (cleanlab): embed each prompt, predict its label with
a classifier trained on the other folds, and score a row by the out-of-fold predicted
probability of its given label (the "self-confidence"). A mislabelled row sits among
rows of another label, so its given label gets little probability.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from clearft.data.example import Example
from clearft.deps import require
from clearft.scoring.config import ScoreConfig
from clearft.scoring.parsing import normalize_answer
from clearft.scoring.result import ScoreResult

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


def looks_like_labels(responses: Iterable[str], max_values: int = 100, min_rows: int = 10) -> bool:
    """Targets are labels when they are short and few distinct values each recur. Streams:
    stops at the first long target or once there are too many distinct values."""
    distinct: set[str] = set()
    rows = 0
    for r in responses:
        rows += 1
        if len(r.split()) > MAX_LABEL_WORDS:
            return False
        distinct.add(normalize_answer(r))
        if len(distinct) > max_values:
            return False
    return rows >= min_rows and len(distinct) <= rows / 2


def out_of_fold_probabilities(
    features: Any, labels: Sequence[str], classifier: str = "logreg", folds: int = 5,
    seed: int = 0, neighbors: int = 10,
) -> tuple[list[float], list[str], list[float]]:
    """Per row: (P(given label), predicted label, P(predicted label)), each from a model
    that never saw the row. Labels missing from a training fold get probability 0."""
    np = require("numpy")
    model_selection = require("sklearn.model_selection", "embedding-knn scores")
    x = np.asarray(features)
    y = np.asarray(list(labels))
    n = len(y)
    given = np.zeros(n)
    predicted: list[str] = [""] * n
    predicted_prob = np.zeros(n)
    splitter = model_selection.KFold(n_splits=max(2, min(folds, n)), shuffle=True, random_state=seed)
    for train, test in splitter.split(x):
        classes = sorted(set(y[train].tolist()))
        if len(classes) == 1:
            proba = np.ones((len(test), 1))
        else:
            model = _classifier(classifier, neighbors, len(train))
            model.fit(x[train], y[train])
            classes = list(model.classes_)
            proba = model.predict_proba(x[test])
        column = {c: j for j, c in enumerate(classes)}
        for row, probs in zip(test, proba, strict=True):
            j = column.get(y[row])
            given[row] = probs[j] if j is not None else 0.0
            best = int(np.argmax(probs))
            predicted[row], predicted_prob[row] = classes[best], float(probs[best])
    return given.tolist(), predicted, predicted_prob.tolist()


def _classifier(name: str, neighbors: int, n_train: int) -> Any:
    if name == "knn":
        neighbors_mod = require("sklearn.neighbors", "embedding-knn scores")
        return neighbors_mod.KNeighborsClassifier(n_neighbors=min(neighbors, n_train), weights="distance", metric="cosine")
    linear = require("sklearn.linear_model", "embedding-knn scores")
    return linear.LogisticRegression(max_iter=2000, C=10.0)


def score_labels(examples: Sequence[Example], config: ScoreConfig) -> list[ScoreResult]:
    from clearft.scoring.similarity import embed

    labels = [label_of(ex) for ex in examples]
    features = embed([ex.prompt_text for ex in examples])
    given, predicted, predicted_prob = out_of_fold_probabilities(
        features, labels, config.classifier, config.folds, config.seed, config.knn_neighbors
    )
    return [
        ScoreResult(
            ex.id, float(g), method="embedding-knn",
            evidence={"classifier": config.classifier, "given_label": label,
                      "predicted_label": p, "predicted_prob": float(pp), "samples": [],
                      "reflections": [], "unknown": 0},
        )
        for ex, label, g, p, pp in zip(examples, labels, given, predicted, predicted_prob, strict=True)
    ]
