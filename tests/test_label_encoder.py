"""The fine-tuned encoder label model (scoring/label_encoder.py) and how Auto-Correct picks its
gate: out-of-fold bookkeeping, the training-row mask, the cap, the fold cache that resumes a
killed run, and eta's defaults by judge and label model. The fine-tune itself is replaced by a
recorder here; tests/test_correct_evidence.py's slow test runs it for real."""

from __future__ import annotations

import numpy as np
import pytest

from clearft.correction.config import (
    DEFAULT_ETA,
    FINE_TUNE_ROWS_PER_CLASS,
    CorrectConfig,
    resolve_label_model,
)
from clearft.scoring import label_encoder
from clearft.scoring.label_encoder import EncoderSettings, out_of_fold_encoder


@pytest.fixture
def recorder(monkeypatch):
    calls = []

    def fake_fit(torch, np_, path, texts, y, n_classes, train, test, s, seed):
        calls.append({"train": sorted(int(i) for i in train), "test": sorted(int(i) for i in test), "seed": seed})
        out = np.zeros((len(test), n_classes))
        out[:, 1] = 1.0  # every held-out row: class 1
        return out

    monkeypatch.setattr(label_encoder, "_fit_and_predict", fake_fit)
    return calls


def data(n=20):
    texts = [f"row {i}" for i in range(n)]
    labels = [i % 2 for i in range(n)]
    return texts, labels


def test_every_row_is_predicted_by_a_fold_that_never_trained_on_it(recorder, tmp_path):
    texts, labels = data()
    keep = np.ones(20, dtype=bool)
    keep[[0, 5]] = False  # flagged: never trained on, still predicted
    probs = out_of_fold_encoder(texts, labels, 2, keep, EncoderSettings(folds=4), model_path="unused")
    assert probs.shape == (20, 2) and np.array_equal(probs[:, 1], np.ones(20))
    assert len(recorder) == 4
    assert sorted(i for c in recorder for i in c["test"]) == list(range(20))  # each row once
    for c in recorder:
        assert not set(c["train"]) & set(c["test"])
        assert 0 not in c["train"] and 5 not in c["train"]
    assert [c["seed"] for c in recorder] == [0, 1, 2, 3]


def test_the_training_rows_are_capped(recorder):
    texts, labels = data(40)
    out_of_fold_encoder(texts, labels, 2, np.ones(40, dtype=bool), EncoderSettings(folds=2, max_train_rows=7),
                        model_path="unused")
    assert [len(c["train"]) for c in recorder] == [7, 7]


def test_finished_folds_are_reused_and_a_change_of_rows_is_not(recorder, tmp_path):
    texts, labels = data()
    keep = np.ones(20, dtype=bool)
    settings = EncoderSettings(folds=4)
    first = out_of_fold_encoder(texts, labels, 2, keep, settings, cache_dir=tmp_path, model_path="unused")
    assert len(recorder) == 4 and len(list(tmp_path.glob("*-fold*.npy"))) == 4
    again = out_of_fold_encoder(texts, labels, 2, keep, settings, cache_dir=tmp_path, model_path="unused")
    assert len(recorder) == 4 and np.array_equal(first, again)  # a rerun fits nothing
    (tmp_path / next(p.name for p in tmp_path.glob("*-fold2.npy"))).unlink()  # killed in fold 3
    out_of_fold_encoder(texts, labels, 2, keep, settings, cache_dir=tmp_path, model_path="unused")
    assert len(recorder) == 5  # only the missing fold
    labels[3] = 1 - labels[3]  # other labels: another fingerprint, nothing reused
    out_of_fold_encoder(texts, labels, 2, keep, settings, cache_dir=tmp_path, model_path="unused")
    assert len(recorder) == 9


def test_eta_defaults_by_judge_and_label_model():
    config = CorrectConfig()
    assert config.label_model == "ensemble" and config.eta is None
    # unresolved (no data yet), the default reads as its frozen form
    assert config.eta_for("evidence") == DEFAULT_ETA["ensemble-frozen"] == 0.6
    assert config.eta_for("evidence", "ensemble-fine-tuned") == DEFAULT_ETA["ensemble-fine-tuned"] == 0.75
    assert config.gate_for_evidence("ensemble-fine-tuned") == config.gate_for_evidence() == "margin"
    assert CorrectConfig(eta=0.5).eta_for("evidence", "ensemble-fine-tuned") == 0.5
    assert config.eta_for("llm") == config.eta_for("estimator") == 0.8
    assert CorrectConfig(label_model="logreg").eta_for("evidence") == 0.8
    assert CorrectConfig(label_model="encoder").eta_for("evidence") == DEFAULT_ETA["encoder"] == 0.95
    assert CorrectConfig(label_model="encoder").eta_for("llm") == 0.8
    assert CorrectConfig(eta=0.6).eta_for("evidence") == CorrectConfig(eta=0.6).eta_for("llm") == 0.6
    with pytest.raises(ValueError, match="label_model must be one of"):
        CorrectConfig(label_model="bert")


def test_the_ensemble_fine_tunes_its_sentence_view_only_with_enough_rows_a_class():
    per_class = FINE_TUNE_ROWS_PER_CLASS
    assert resolve_label_model("ensemble", per_class * 3, 3) == "ensemble-fine-tuned"
    assert resolve_label_model("ensemble", per_class * 3 - 1, 3) == "ensemble-frozen"
    # the bundled slice (400 rows, 8 intents) and BANKING77-20 (3000 rows, 77 intents) stay frozen
    assert resolve_label_model("ensemble", 400, 8) == resolve_label_model("ensemble", 3000, 77) == "ensemble-frozen"
    assert resolve_label_model("ensemble", 1585, 3) == "ensemble-fine-tuned"  # FPB-30
    assert resolve_label_model("ensemble", 10, 0) == "ensemble-frozen"
    for name in ("ensemble-frozen", "encoder", "logreg", "knn"):
        assert resolve_label_model(name, 10**6, 2) == name

