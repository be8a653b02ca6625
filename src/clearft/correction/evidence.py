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
  Or (``calibration="temperature"``, the default where it is identified, see
  temperature_posterior): the probabilities sharpened by a temperature fitted to the given
  labels under uniform label noise, then combined with the row's given label the same way.
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


# The temperature fit is trusted (temperature_posterior) only when assuming a third less noise
# moves the fitted temperature by at most this factor. Measured (bench/label_calibration.py,
# bench/results/correct.md "Session 17"): 1.08-1.09 on three BANKING77 draws (77 intents), where
# the calibrated posterior at 0.95 restores 39-44% of the noisy rows at precision 0.969-0.989;
# 1.74 on FPB-30, 2.50 on FPB-50 (3 labels: noise and temperature trade off) and 1.59 on the
# main job's 400 rows (8 intents, 50 rows each).
MAX_TEMPERATURE_SHIFT = 1.25
# Nor where the noise estimate is at least this: a classifier that disagrees with that many
# labels is more often weak than the data that noisy (synthetic, 77 classes, a weak classifier:
# estimated noise 0.67, shift 1.21, and its posterior broke 10 labels for 28 restored;
# tests/test_correct_calibration.py).
MAX_NOISE = 0.5
# The fit's search range for log T; a fit at its edge has found no optimum (a flat likelihood).
_LOG_T_BOUNDS = (-3.0, 3.0)


def _sharpened(probs: Any, temperature: float) -> Any:
    np = require("numpy")
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(probs: Any, given: Sequence[int], noise: float) -> float:
    """The temperature T that makes the given labels most likely when each row's true label
    follows probs^(1/T) (renormalised) and is then swapped, with probability `noise`, to one of
    the other classes uniformly."""
    np = require("numpy")
    optimize = require("scipy.optimize", "the calibrated evidence judge")
    p = np.asarray(probs, dtype=float)
    rows, k = np.arange(len(p)), p.shape[1]
    labels = np.asarray(given, dtype=int)

    def loss(log_t: float) -> float:
        q = _sharpened(p, float(np.exp(log_t)))[rows, labels]
        return float(-np.mean(np.log((1.0 - noise) * q + noise * (1.0 - q) / max(1, k - 1) + 1e-12)))

    return float(np.exp(optimize.minimize_scalar(loss, bounds=_LOG_T_BOUNDS, method="bounded").x))


def noisy_label_posterior(probs: Any, given: Sequence[int], noise: float) -> Any:
    """P(true = c | x, given = y) ∝ probs[c] x P(given y | true c) under uniform noise."""
    np = require("numpy")
    p = np.asarray(probs, dtype=float)
    k = p.shape[1]
    likelihood = np.full(p.shape, noise / max(1, k - 1))
    likelihood[np.arange(len(p)), np.asarray(given, dtype=int)] = 1.0 - noise
    post = p * likelihood
    return post / np.clip(post.sum(axis=1, keepdims=True), 1e-300, None)


def estimated_noise(probs: Any, given: Sequence[int]) -> float:
    """The share of given labels that are wrong, by confident learning: the off-diagonal mass
    of noise_matrix, weighted by how often each label is given. (choice, measured with
    bench/label_calibration.py and tests/test_correct_calibration.py) Not the share of rows
    whose most likely label is another: that counts the classifier's own mistakes as noise
    (BANKING77-20: 0.31 against a true 0.20), and on clean data with a mediocre classifier
    (synthetic, 77 classes, no noise) the posterior built on it broke 5 labels, 0 with this."""
    np = require("numpy")
    labels = np.asarray(given, dtype=int)
    k = np.asarray(probs).shape[1]
    prior = np.bincount(labels, minlength=k) / max(1, len(labels))
    return float(1.0 - np.sum(np.diag(noise_matrix(labels.tolist(), probs)) * prior))


def temperature_posterior(probs: Any, given: Sequence[int]) -> tuple[Any, dict[str, Any]]:
    """(P(true = c | x, given = y) per row, how it was fitted), with the out-of-fold
    probabilities sharpened by fit_temperature first.

    Why: averaged out-of-fold probabilities are under-confident (on BANKING77-20 the rows with
    a margin of 0.6-0.7 were restored 90% of the time), so a fixed margin refuses corrections
    the evidence supports. The noise rate is confident learning's estimate (estimated_noise).
    With many classes the given labels pin the temperature down (a swapped row's label gets
    almost no probability); with few, a sharper model and more noise explain the labels alike.
    "identified" says which: at least 3 classes, the temperature moves by at most
    MAX_TEMPERATURE_SHIFT when a third less noise is assumed, neither fit ends at the edge of
    its range, and the noise estimate is under MAX_NOISE."""
    np = require("numpy")
    p = np.asarray(probs, dtype=float)
    labels = np.asarray(given, dtype=int)
    k = p.shape[1]
    noise = float(np.clip(estimated_noise(p, labels), 1e-3, 1.0 - 1.0 / max(2, k)))
    t = fit_temperature(p, labels, noise)
    t_less = fit_temperature(p, labels, noise * 2.0 / 3.0)
    shift = max(t, t_less) / min(t, t_less)
    edge = any(abs(np.log(x) - bound) < 0.01 for x in (t, t_less) for bound in _LOG_T_BOUNDS)
    identified = k >= 3 and not edge and shift <= MAX_TEMPERATURE_SHIFT and noise < MAX_NOISE
    info = {"temperature": round(t, 4), "noise": round(noise, 4), "temperature_shift": round(shift, 3),
            "identified": bool(identified)}
    return noisy_label_posterior(_sharpened(p, t), labels, noise), info


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
