"""The default Auto-Correct judge for label targets: out-of-sample evidence, not a model's opinion.

The paper's judge is the base model asked "which response is better?". Measured here, the
135M default model cannot tell a fix from a break (0 of 200 accepted on FPB, where 82
candidates would have restored a label and 47 broken one), and RobustFT reports the same of
an 8B model asked whether a label is noisy. What does work is evidence from views that never
trained on the row's target (confident learning):

* ``classifier``: the embedding classifier's out-of-fold class probabilities, from its pass
  trained without the rows confident learning flags (scoring/label_model.py). Selectable
  instead (``calibration="noise-matrix"``): with the noise matrix N[given, true] estimated by
  cleanlab, P(true label | x) = N^-1 P(noisy | x), combined with the row's own given label:
  P(true = c | x, given = y) ∝ P(true = c | x) N[y, c].
* ``fold_model``: with ``--cross-fit``, the fold model's probability of each label (a model
  fine-tuned on the other folds, so it never saw this row's target).
* ``model``: the fine-tuned model's greedy candidate (it never trained on a dropped row's
  target). A vote, not a probability: it can veto a replacement, never add confidence.

The confidence that label c is right is the mean over the probabilistic views (classifier,
fold model) of their probability of c; the best label replaces the target only when it
differs from it, its confidence is above eta, and every vote names the same label. Why the
vote adds no mass (measured, bench/results/correct.md): in the loop the fine-tuned model
learns from the rows the classifier kept, so it agreed with the classifier on every dropped
row where the classifier was sure; counted as a probability of 1 it let the classifier
through at 0.6, and 94 replacements restored 71 labels and broke 18. Without a probabilistic
view (too few rows for the classifier) nothing is replaced.
All of this is pure math over arrays here; the embedding and the model calls live elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clearft.deps import require

CLASSIFIER = "classifier"
FOLD_MODEL = "fold_model"
MODEL = "model"

# Why a row was or was not replaced, by the evidence judge.
REPLACED = "replaced"
AGREES_WITH_TARGET = "evidence_supports_target"
NOT_CONFIDENT = "evidence_not_confident"
NO_EVIDENCE = "no_evidence"
VOTE_DISAGREES = "views_disagree"

# Views that name a label without a probability: they may veto a replacement, not weigh in.
VOTES = (MODEL,)


@dataclass
class LabelDecision:
    label: str | None  # the best-supported label (None: no view had anything to say)
    confidence: float  # mean over views of P(label)
    views: dict[str, dict[str, Any]]  # view -> {"label": its top label, "prob": its P(best label)}
    reason: str

    @property
    def replaced(self) -> bool:
        return self.reason == REPLACED


def noise_matrix(given: Sequence[int], probs: Any) -> Any:
    """N[i, j] = P(given label i | true label j), estimated by confident learning (cleanlab's
    calibrated confident joint). Falls back to the identity (no deconvolution) where it
    cannot be estimated (a class without a confident row, say)."""
    np = require("numpy")
    count = require("cleanlab.count", "the Auto-Correct evidence judge")
    k = probs.shape[1]
    labels = np.asarray(given, dtype=int)
    if len(set(labels.tolist())) < k:
        return np.eye(k)
    try:
        joint = count.compute_confident_joint(labels, probs)
        _, matrix, _ = count.estimate_latent(joint, labels)
    except Exception:  # cleanlab refuses degenerate inputs; then trust the probabilities as they are
        return np.eye(k)
    matrix = np.asarray(matrix, dtype=float)
    return matrix if np.isfinite(matrix).all() else np.eye(k)


def label_posterior(probs: Any, given: Sequence[int], matrix: Any) -> Any:
    """P(true = c | x, given = y) per row: P(noisy | x) deconvolved by N, times N[y, c]."""
    np = require("numpy")
    p = np.asarray(probs, dtype=float)
    try:
        true = np.linalg.solve(matrix, p.T).T
    except np.linalg.LinAlgError:
        true = np.linalg.lstsq(matrix, p.T, rcond=None)[0].T
    true = np.clip(true, 0.0, None)
    sums = true.sum(axis=1, keepdims=True)
    true = np.where(sums > 0, true / np.where(sums > 0, sums, 1.0), p)
    post = true * matrix[np.asarray(given, dtype=int), :]
    sums = post.sum(axis=1, keepdims=True)
    return np.where(sums > 0, post / np.where(sums > 0, sums, 1.0), true)


def vote(label: str | None, classes: Sequence[str]) -> dict[str, float] | None:
    """A view with no probabilities (a model's greedy answer): all its mass on its label;
    None when it gave no label of the dataset (it then does not vote)."""
    if label is None or label not in classes:
        return None
    return {c: 1.0 if c == label else 0.0 for c in classes}


def decide_label(given: str, views: Mapping[str, Mapping[str, float] | None], eta: float,
                 gate: str = "probability") -> LabelDecision:
    """Combine the views (label -> probability each) and apply the gate. `gate` "probability":
    the confidence is the combined probability of the best label; "margin": that minus the
    combined probability of the given label, so a row whose views still give its own label
    real weight is not replaced."""
    present = {name: dist for name, dist in views.items() if dist}
    weighed = {name: dist for name, dist in present.items() if name not in VOTES}
    if not weighed:
        return LabelDecision(None, 0.0, {}, NO_EVIDENCE)
    labels = sorted({c for dist in weighed.values() for c in dist})
    combined = {c: sum(dist.get(c, 0.0) for dist in weighed.values()) / len(weighed) for c in labels}
    best = max(labels, key=lambda c: (combined[c], c == given))
    detail = {name: {"label": max(dist, key=lambda c: dist[c]), "prob": round(float(dist.get(best, 0.0)), 4)}
              for name, dist in present.items()}
    confidence = float(combined[best])
    if gate == "margin":
        confidence -= float(combined.get(given, 0.0))
    if best == given:
        reason = AGREES_WITH_TARGET
    elif any(detail[name]["label"] != best for name in present if name in VOTES):
        reason = VOTE_DISAGREES
    elif confidence > eta:
        reason = REPLACED
    else:
        reason = NOT_CONFIDENT
    return LabelDecision(best, round(confidence, 4), detail, reason)
