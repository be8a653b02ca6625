"""embedding-knn: out-of-fold probability of the given label."""

from __future__ import annotations

import numpy as np
import pytest

from clearft.scoring.label_model import looks_like_labels, out_of_fold_probabilities


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
    given, predicted, _ = out_of_fold_probabilities(x, labels, classifier, folds=5, seed=0)
    assert int(np.argmin(given)) == bad
    assert predicted[bad] == "pos"
    assert all(0.0 <= g <= 1.0 for g in given)


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
