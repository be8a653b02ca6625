"""The fold model's view: the probability of each row's given target (label-prob), and how
the parts combine into one confidence (pure maths beside the one model call)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from clearft.backends.base import Backend, LoglikelihoodRequest
from clearft.data.example import Example
from clearft.scoring.crossfit.config import CrossFitConfig
from clearft.scoring.result import Usage


def normalised_label_probs(logprobs: dict[str, float]) -> dict[str, float]:
    """Softmax of the labels' log-likelihoods: P(label | prompt) within the label set."""
    top = max(logprobs.values())
    exps = {label: math.exp(lp - top) for label, lp in logprobs.items()}
    total = sum(exps.values())
    return {label: v / total for label, v in exps.items()}


def per_token_probability(logprob: float, n_tokens: int) -> float:
    """exp(mean token log-probability): in (0, 1], comparable across target lengths."""
    return math.exp(logprob / max(1, n_tokens))


def combine(parts: dict[str, float | None], label_weight: float) -> float | None:
    """label-prob weighs `label_weight`, the other parts share the rest equally; weights of
    missing parts (None: not asked for, not applicable, or failed) go to the present ones."""
    present = {name: v for name, v in parts.items() if v is not None}
    if not present:
        return None
    others = [v for name, v in present.items() if name != "label-prob"]
    if "label-prob" not in present:
        return sum(others) / len(others)
    if not others:
        return present["label-prob"]
    return label_weight * present["label-prob"] + (1.0 - label_weight) * sum(others) / len(others)


def score_target_probability(
    examples: Sequence[Example], backend: Backend, labels: list[str] | None, usage: Usage,
    normalise: bool = True,
) -> list[tuple[float | None, dict[str, Any]]]:
    """Per row: (probability of its given target, evidence). For labels, one log-likelihood
    request per label and the given label's share of the softmax (`normalise`), or the given
    label's own probability (one request); for free text the per-token probability."""
    backend.require("loglikelihood", purpose="cross-fitted target probability")
    scored_labels = labels if labels and normalise else None  # every label is asked for
    requests = []
    for ex in examples:
        targets = scored_labels or [ex.response.strip() if labels else ex.response]
        requests += [LoglikelihoodRequest(ex.messages, t) for t in targets]
    results = backend.loglikelihood(requests)
    usage.add_loglikelihoods(results)
    width = len(scored_labels) if scored_labels else 1
    out: list[tuple[float | None, dict[str, Any]]] = []
    for row, ex in enumerate(examples):
        mine = results[row * width:(row + 1) * width]
        errors = [r.error for r in mine if not r.ok]
        if errors:
            out.append((None, {"error": "; ".join(e or "" for e in errors)}))
        elif scored_labels:
            probs = normalised_label_probs({lb: r.logprob for lb, r in zip(scored_labels, mine, strict=True)})
            predicted = max(probs, key=lambda lb: probs[lb])
            out.append((probs[ex.response.strip()], {"label_probs": probs, "predicted_label": predicted}))
        elif labels:
            r = mine[0]
            out.append((math.exp(r.logprob), {"label_prob_mode": "given label", "logprob": r.logprob,
                                              "n_tokens": r.n_tokens}))
        else:
            r = mine[0]
            out.append((per_token_probability(r.logprob, r.n_tokens), {"logprob": r.logprob, "n_tokens": r.n_tokens}))
    return out


def normalises_over_labels(labels: Sequence[str] | None, cf: CrossFitConfig) -> bool:
    return labels is not None and 0 < len(labels) <= cf.max_normalised_labels
