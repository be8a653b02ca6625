"""embedding-classifier: out-of-fold probability of the given label."""

from __future__ import annotations

import numpy as np
import pytest

from clearft.scoring.label_model import out_of_fold_probabilities
from clearft.scoring.label_space import looks_like_labels


def _clusters(seed: int = 0) -> tuple[np.ndarray, list[str], int]:
    rng = np.random.default_rng(seed)
    centers = {"pos": np.array([5.0, 0.0]), "neg": np.array([-5.0, 0.0]), "neu": np.array([0.0, 5.0])}
    labels = [lab for lab in centers for _ in range(20)]
    x = np.stack([centers[lab] + rng.normal(size=2) for lab in labels])
    labels[3] = "neg"  # one mislabelled row among the "pos" cluster
    return x, labels, 3


@pytest.mark.parametrize("classifier", ["logreg", "knn"])
def test_mislabelled_row_gets_the_lowest_probability(classifier: str) -> None:
    x, labels, bad = _clusters()
    given, predicted, top = out_of_fold_probabilities(x, labels, classifier, folds=5, seed=0)
    assert int(np.argmin(given)) == bad
    assert predicted[bad] == "pos"
    # the well-separated rest is predicted as given, and P(given) is then the top probability
    assert [i for i, (p, lab) in enumerate(zip(predicted, labels, strict=True)) if p != lab] == [bad]
    assert all(g == t for i, (g, t) in enumerate(zip(given, top, strict=True)) if i != bad)
    assert given[bad] < top[bad]


def test_label_missing_from_training_folds_gets_zero() -> None:
    x = np.array([[0.0], [0.1], [0.2], [0.3], [5.0]])
    labels = ["a", "a", "a", "a", "z"]
    given, _, _ = out_of_fold_probabilities(x, labels, "logreg", folds=5, seed=0)
    assert given[4] == 0.0


def test_looks_like_labels() -> None:
    assert looks_like_labels(["A", "B", "C"] * 5)
    assert not looks_like_labels(["A", "B"])  # too few rows
    assert not looks_like_labels([f"answer {i}" for i in range(30)])  # no value recurs
    assert not looks_like_labels(["a rather long worked solution with many words in it"] * 30)


def _noisy_blobs(seed: int = 0, flip: float = 0.3) -> tuple[np.ndarray, list[str], list[str]]:
    """Three overlapping blobs, 60 rows each, with `flip` of the labels moved to another class."""
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"]
    true = [c for c in classes for _ in range(60)]
    centers = {"a": (2.0, 0.0), "b": (-1.0, 1.7), "c": (-1.0, -1.7)}
    x = np.stack([np.array(centers[c]) + rng.normal(size=2) for c in true])
    given = list(true)
    for i in rng.choice(len(true), int(flip * len(true)), replace=False):
        given[i] = classes[(classes.index(true[i]) + 1 + int(rng.integers(2))) % 3]
    return x, given, true


def test_the_pruned_pass_is_surer_of_the_true_label_of_noisy_rows() -> None:
    """Trained without the rows confident learning flags, the classifier stops learning the
    noise: on the mislabelled rows it gives the true label more probability than one pass."""
    from clearft.scoring.label_model import out_of_fold_matrix

    x, given, true = _noisy_blobs()
    one = out_of_fold_matrix(x, given, prune=False)
    pruned = out_of_fold_matrix(x, given)
    assert one.pruned == 0 and pruned.pruned > 0
    noisy = [i for i in range(len(given)) if given[i] != true[i]]
    col = {c: j for j, c in enumerate(pruned.classes)}

    def mean_true(lp) -> float:
        return float(np.mean([lp.probs[i, col[true[i]]] for i in noisy]))

    assert mean_true(pruned) > mean_true(one) + 0.05
    assert np.allclose(pruned.probs.sum(axis=1), 1.0)


def test_the_old_method_name_still_works() -> None:
    from clearft.scoring import make_config
    from clearft.scoring.crossfit import CrossFitConfig

    assert make_config(method="embedding-knn").method == "embedding-classifier"
    cf = CrossFitConfig(folds=2, parts=("label-prob", "embedding-knn"))
    cf.validate()
    assert cf.parts == ("label-prob", "embedding-classifier")
