"""``embedding-classifier``: for classification-like data, how likely is the given label?

In the spirit of confident learning (cleanlab): embed each prompt, predict its label with
a classifier trained on the other folds, and score a row by the out-of-fold predicted
probability of its given label (the "self-confidence"). A mislabelled row sits among
rows of another label, so its given label gets little probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearft.data.example import Example
from clearft.deps import require
from clearft.scoring.config import ScoreConfig
from clearft.scoring.label_space import label_of
from clearft.scoring.result import ScoreResult


@dataclass
class LabelProbabilities:
    """Out-of-fold class probabilities: `probs[i, j]` is row i's probability of `classes[j]`."""

    probs: Any  # numpy array, rows x classes
    classes: list[str]
    regularisation: float | None  # the logistic regression's C (None for knn)
    log_loss: float  # mean out-of-fold log-loss of the given labels (first, unpruned pass)
    pruned: int = 0  # rows left out of training as likely label issues (second pass)


# Inverse regularisation strengths tried for the logistic regression (see out_of_fold_matrix).
REGULARISATION = (0.3, 1.0, 3.0, 10.0, 30.0)
# The pruned pass (see out_of_fold_matrix) averages this many fold splits, each with its own
# seed: a row's probability is then the mean of models that never saw it, which steadies the
# correction gate near its threshold.
PRUNED_SPLITS = 3
# The word view's vocabulary (word_features): the most frequent words and word pairs.
WORD_FEATURES = 6000
# Prune only with at least this many rows a class on average: confident learning's per-class
# thresholds need rows to estimate them. On the bundled 200-row BANKING77 slice (77 intents,
# 2.6 rows each) the pruned pass broke more labels than it restored (1 restored, 4 broken at
# eta 0.5), where the one pass did not.
MIN_ROWS_PER_CLASS_TO_PRUNE = 10


def out_of_fold_matrix(
    features: Any, labels: Sequence[str], classifier: str = "logreg", folds: int = 5,
    seed: int = 0, neighbors: int = 10, prune: bool = True,
) -> LabelProbabilities:
    """Out-of-fold probabilities of every class for every row: each row's from a model that
    never saw it. Folds are stratified by label where every label has enough rows.

    Two passes (confident learning's prune-and-retrain, as cleanlab's CleanLearning does).
    The first trains on every row; for "logreg" its regularisation is chosen from
    REGULARISATION by the out-of-fold log-loss of the given labels (no clean label is needed;
    the best C differs by dataset: FPB-30 1, FPB-50 0.3, BANKING77-20 10). Its probabilities
    flag likely label issues (cleanlab's confident-learning filter). With `prune`, the second
    pass trains each fold's model without the flagged rows and averages PRUNED_SPLITS fold
    splits. Why: a classifier trained on noisy labels learns the noise too; without it the
    probabilities are sharper and rank the noisy rows better. Measured on the shared data
    (`python bench/label_model.py`): AUROC 0.959 -> 0.960 on FPB-30, 0.906 -> 0.921 on FPB-50,
    0.9958 -> 0.9965 on BANKING77-20; relabelling above 0.8 restores 180 instead of 20 FPB-30
    labels (12 clean ones broken instead of 0), 107 instead of 0 on FPB-50, 88 instead of 32
    on BANKING77-20."""
    np = require("numpy")
    y = np.asarray(list(labels))
    classes = sorted(set(y.tolist()))
    x = features if _is_sparse(features) else np.asarray(features)
    grid = REGULARISATION if classifier == "logreg" else (None,)
    given_idx = [classes.index(v) for v in y.tolist()]
    best: LabelProbabilities | None = None
    for c in grid:
        probs = _oof(x, y, classes, classifier, folds, seed, neighbors, c)
        given = probs[np.arange(len(y)), given_idx]
        loss = float(-np.mean(np.log(np.clip(given, 1e-9, 1.0))))
        if best is None or loss < best.log_loss - 1e-9:
            best = LabelProbabilities(probs, classes, c, loss)
    assert best is not None
    if not prune or len(y) < MIN_ROWS_PER_CLASS_TO_PRUNE * len(classes):
        return best
    issues = label_issues(best.probs, given_idx)
    if not 0 < int(issues.sum()) < len(y):
        return best
    keep = ~issues
    probs = np.mean([_oof(x, y, classes, classifier, folds, seed + s, neighbors, best.regularisation, keep)
                     for s in range(PRUNED_SPLITS)], axis=0)
    return LabelProbabilities(probs, classes, best.regularisation, best.log_loss, int(issues.sum()))


def label_issues(probs: Any, given: Sequence[int]) -> Any:
    """Rows whose given label is likely wrong (bool array): cleanlab's confident-learning
    filter (a row counts when another class's probability is above that class's mean
    self-confidence). None flagged where cleanlab cannot estimate it (a class with one row)."""
    np = require("numpy")
    cl_filter = require("cleanlab.filter", "embedding-classifier scores")
    labels = np.asarray(given, dtype=int)
    try:
        return np.asarray(cl_filter.find_label_issues(labels, probs, filter_by="confident_learning"), dtype=bool)
    except Exception:  # cleanlab refuses degenerate inputs (a class without rows, one class)
        return np.zeros(len(labels), dtype=bool)


def _oof(x: Any, y: Any, classes: list[str], classifier: str, folds: int, seed: int,
         neighbors: int, c: float | None, keep: Any = None) -> Any:
    """Out-of-fold probabilities; with `keep` (a bool per row), a fold's model trains only on
    the kept rows of the other folds, and still predicts every row of its own fold."""
    np = require("numpy")
    model_selection = require("sklearn.model_selection", "embedding-classifier scores")
    n = len(y)
    probs = np.zeros((n, len(classes)))
    k = max(2, min(folds, n))
    counts = {v: int((y == v).sum()) for v in classes}
    if min(counts.values()) >= k:
        splits = model_selection.StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, y)
    else:  # a label with fewer rows than folds cannot be stratified
        splits = model_selection.KFold(n_splits=k, shuffle=True, random_state=seed).split(x)
    column = {v: j for j, v in enumerate(classes)}
    for train, test in splits:
        if keep is not None:
            train = train[keep[train]]
        seen = sorted(set(y[train].tolist()))
        if not seen:
            probs[test, :] = 1.0 / len(classes)
            continue
        if len(seen) == 1:
            probs[test, column[seen[0]]] = 1.0
            continue
        model = _classifier(classifier, neighbors, len(train), c)
        model.fit(x[train], y[train])
        cols = [column[v] for v in model.classes_]
        probs[np.ix_(test, cols)] = model.predict_proba(x[test])
    return probs


def out_of_fold_probabilities(
    features: Any, labels: Sequence[str], classifier: str = "logreg", folds: int = 5,
    seed: int = 0, neighbors: int = 10,
) -> tuple[list[float], list[str], list[float]]:
    """Per row: (P(given label), predicted label, P(predicted label)), each from a model
    that never saw the row. Labels missing from a training fold get probability 0."""
    lp = out_of_fold_matrix(features, labels, classifier, folds, seed, neighbors)
    index = {v: j for j, v in enumerate(lp.classes)}
    given = [float(lp.probs[i, index[v]]) for i, v in enumerate(labels)]
    best = lp.probs.argmax(axis=1)
    return given, [lp.classes[int(b)] for b in best], [float(lp.probs[i, b]) for i, b in enumerate(best)]


def word_features(texts: Sequence[str]) -> Any:
    """Sparse TF-IDF features of each text's words and word pairs: a second, lexical view of
    the rows beside the sentence embedding. Fitted on the texts alone (no label is read), so
    every out-of-fold model still never saw its rows' labels. Why a second view: the two
    classifiers err on different rows, and where both are sure the label is right far more
    often (bench/label_views.py: on BANKING77-20 the share of noisy rows restored at
    precision >= 0.95 goes from 16% to 41%, on FPB-30 from 17% to 35%)."""
    text = require("sklearn.feature_extraction.text", "the ensemble label model")
    vectorizer = text.TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                      max_features=WORD_FEATURES, dtype=require("numpy").float32)
    try:
        return vectorizer.fit_transform(list(texts))
    except ValueError:  # no word occurs twice (a tiny file): every row gets the same empty vector
        return vectorizer.set_params(min_df=1).fit_transform([t or "-" for t in texts])


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocsr")


def _classifier(name: str, neighbors: int, n_train: int, c: float | None = None) -> Any:
    if name == "knn":
        neighbors_mod = require("sklearn.neighbors", "embedding-classifier scores")
        return neighbors_mod.KNeighborsClassifier(n_neighbors=min(neighbors, n_train), weights="distance", metric="cosine")
    linear = require("sklearn.linear_model", "embedding-classifier scores")
    return linear.LogisticRegression(max_iter=3000, C=10.0 if c is None else c)


def score_labels(examples: Sequence[Example], config: ScoreConfig) -> list[ScoreResult]:
    from clearft.scoring.similarity import embed

    labels = [label_of(ex) for ex in examples]
    features = embed([ex.prompt_text for ex in examples])
    given, predicted, predicted_prob = out_of_fold_probabilities(
        features, labels, config.classifier, config.folds, config.seed, config.knn_neighbors
    )
    return [
        ScoreResult(
            ex.id, float(g), method="embedding-classifier",
            evidence={"classifier": config.classifier, "given_label": label,
                      "predicted_label": p, "predicted_prob": float(pp), "samples": [],
                      "reflections": [], "unknown": 0},
        )
        for ex, label, g, p, pp in zip(examples, labels, given, predicted, predicted_prob, strict=True)
    ]
