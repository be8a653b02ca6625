"""``embedding-knn``: for classification-like data, how likely is the given label?

In the spirit of confident learning (cleanlab): embed each prompt, predict its label with
a classifier trained on the other folds, and score a row by the out-of-fold predicted
probability of its given label (the "self-confidence"). A mislabelled row sits among
rows of another label, so its given label gets little probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clearft.data.example import Example
from clearft.deps import require
from clearft.scoring.config import ScoreConfig
from clearft.scoring.parsing import normalize_answer
from clearft.scoring.result import ScoreResult

MAX_LABEL_WORDS = 8


def looks_like_labels(responses: Sequence[str], max_values: int = 100, min_rows: int = 10) -> bool:
    """Targets are labels when they are short and few distinct values each recur."""
    if len(responses) < min_rows:
        return False
    if any(len(r.split()) > MAX_LABEL_WORDS for r in responses):
        return False
    distinct = {normalize_answer(r) for r in responses}
    return len(distinct) <= max_values and len(distinct) <= len(responses) / 2


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

    labels = [ex.response.strip() for ex in examples]
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
