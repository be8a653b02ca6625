"""The classifier view of the evidence judge (correction/evidence.py), computed over a dataset.

Every row of the context (the whole dataset, not only the rows to correct: the classifier
needs the clean majority to learn from) is embedded once; each row's class probabilities come
from a classifier that never saw it, and are turned into the posterior of its true label.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from clearft.correction import evidence
from clearft.correction.config import resolve_label_model
from clearft.data.example import Example
from clearft.deps import require
from clearft.scoring.label_model import label_issues, out_of_fold_matrix, word_features
from clearft.scoring.label_space import MIN_ROWS, label_of


def class_of(ex: Example, target: str) -> str:
    """The class a target text stands for in this row (a choice letter -> its option's text)."""
    return label_of(replace(ex, response=target))


def classifier_posteriors(context: Sequence[Example], *, folds: int = 5, seed: int = 0,
                          classifier: str = "logreg", calibration: str = "auto",
                          cache_dir: str | Path | None = None,
                          log: Callable[[str], None] | None = None) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """(row id -> P(true label = c) for each class c, a summary of the classifier) over `context`.

    `classifier`: "logreg" / "knn" read frozen embeddings (scoring/label_model.py);
    "encoder" fine-tunes the sentence encoder per fold (scoring/label_encoder.py) on the rows
    the frozen model's confident-learning filter keeps, minutes instead of seconds;
    "ensemble-frozen" averages logreg over the embeddings with logreg over word n-grams;
    "ensemble" (the default) does the same with the fine-tuned encoder as its sentence view
    where the data has enough rows a class (correction/config.resolve_label_model; the summary's
    "label_model" says which). `cache_dir` keeps the encoder's finished folds for a rerun."""
    from clearft.scoring.similarity import embed  # heavy (sentence-transformers): only when used

    if len(context) < MIN_ROWS:  # fewer are never labels (scoring/label_space.py)
        return {}, {"rows": len(context), "skipped": f"fewer than {MIN_ROWS} rows"}
    np = require("numpy")
    labels = [label_of(ex) for ex in context]
    texts = [ex.prompt_text for ex in context]
    features = embed(texts)
    lp = out_of_fold_matrix(features, labels, "knn" if classifier == "knn" else "logreg", folds, seed)
    index = {c: j for j, c in enumerate(lp.classes)}
    given = [index[c] for c in labels]
    info: dict[str, Any] = {"rows": len(context), "classes": len(lp.classes), "classifier": classifier,
                            "regularisation": lp.regularisation, "pruned_from_training": lp.pruned}
    resolved = resolve_label_model(classifier, len(context), len(lp.classes))
    info["label_model"] = resolved
    sentence = lp.probs
    if resolved in ("encoder", "ensemble-fine-tuned"):
        from clearft.scoring.label_encoder import EncoderSettings, out_of_fold_encoder

        # The frozen model's pruned pass decides which rows the encoder may learn from.
        flagged = label_issues(lp.probs, given)
        settings = EncoderSettings(folds=folds, seed=seed)
        sentence = out_of_fold_encoder(texts, given, len(lp.classes), ~flagged, settings, cache_dir=cache_dir,
                                       log=log)
        info.update(pruned_from_training=int(flagged.sum()), encoder=asdict(settings), regularisation=None)
    probs = sentence
    if resolved.startswith("ensemble"):
        # A second, lexical view (scoring/label_model.word_features); the two are averaged.
        words = out_of_fold_matrix(word_features(texts), labels, "logreg", folds, seed)
        assert words.classes == lp.classes  # both sorted from the same labels
        probs = (sentence + words.probs) / 2.0
        info.update(word_regularisation=words.regularisation, word_pruned_from_training=words.pruned)
    matrix = evidence.noise_matrix(given, probs)
    # (choice, measured with bench/label_model.py and bench/correct.py) The frozen models' view
    # is the out-of-fold probability of the classifier's second, pruned pass (trained without
    # the rows confident learning flags): the first pass, trained on the noisy labels,
    # under-states how sure it is (its probabilities top out near 1 - noise rate) and restored
    # 20 of 475 noisy FPB-30 rows at eta 0.8. The noise-matrix posterior breaks more than it
    # restores on a few hundred rows, where the classifier is weak and the noise is over-estimated.
    post = probs
    used = "none"
    if calibration == "noise-matrix":
        post, used = evidence.label_posterior(probs, given, matrix), calibration
    elif calibration == "temperature" or (calibration == "auto" and resolved == "ensemble-frozen"):
        # (choice, measured with bench/label_calibration.py) "auto" calibrates only the frozen
        # ensemble, and only where the fit is identified (evidence.temperature_posterior)
        calibrated, fit = evidence.temperature_posterior(probs, given)
        info["temperature_fit"] = fit
        if calibration == "temperature" or fit["identified"]:
            post, used = calibrated, "temperature"
    out = {ex.id: {c: float(post[i, j]) for j, c in enumerate(lp.classes)} for i, ex in enumerate(context)}
    info.update(estimated_noise=round(1.0 - float(np.mean(np.diag(matrix))), 4), calibration=used)
    return out, info


def fold_model_view(ex: Example) -> dict[str, float] | None:
    """The cross-fit fold model's probability of each class for this row, from a model that
    never trained on it: the `label_probs` that `clearft score --cross-fit` records in
    `clearft_evidence` (keyed by target text; choice letters become their classes). None when
    the row carries none (no cross-fit, or too many labels to normalise over)."""
    raw = ex.record.get("clearft_evidence")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, dict) or "fold" not in raw or not isinstance(raw.get("label_probs"), dict):
        return None
    out: dict[str, float] = {}
    for target, prob in raw["label_probs"].items():
        try:
            p = float(prob)
        except (TypeError, ValueError):
            return None
        cls = class_of(ex, str(target))
        out[cls] = out.get(cls, 0.0) + p
    return out or None
