"""Step 4b of CLEAR: the base model judges original vs candidate, in both orders, and the
verdict gets a BSDetector-style confidence (math in verdicts.py, prompts in prompts.py).

All requests of a batch of rows go to the backend in one generate call (the llama.cpp
backend runs them in parallel); results never depend on the batch size, because every
request carries the same seed and its own prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clearft.backends.base import Backend, Completion, GenerateRequest
from clearft.correction import verdicts as v
from clearft.correction.config import CorrectConfig
from clearft.correction.parsing import UNKNOWN, letter_probs, parse_explanation, parse_letter
from clearft.correction.prompts import (
    ANSWER_PREFIX,
    ORDERS,
    judge_messages,
    reflection_messages,
)

TOP_LOGPROBS = 10


@dataclass
class Pair:
    """One comparison: the prompt as text, the original target and the candidate."""

    question: str
    original: str
    candidate: str


@dataclass
class JudgeResult:
    preference: float | None  # > 0.5: the judge prefers the candidate
    consistency: float | None
    reflection: float | None
    confidence: float | None  # BSDetector-style confidence that the candidate is better
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # one per order
    explanation: str = ""
    unknown: int = 0  # replies that did not parse
    errors: list[str] = field(default_factory=list)


def use_logprobs(backend: Backend, config: CorrectConfig) -> bool:
    if config.use_logprobs == "never":
        return False
    if config.use_logprobs == "always":
        backend.require("top_logprobs", purpose="the judge with use_logprobs='always'")
        return True
    return backend.capabilities.top_logprobs


class _Plan:
    """Requests for one batch of pairs, and where each one's answer belongs."""

    def __init__(self) -> None:
        self.requests: list[GenerateRequest] = []
        self.slots: list[tuple[int, str, str]] = []  # (pair index, order, kind)

    def add(self, i: int, order: str, kind: str, req: GenerateRequest) -> None:
        self.requests.append(req)
        self.slots.append((i, order, kind))


def _plan(pairs: Sequence[Pair], config: CorrectConfig, logprobs: bool) -> _Plan:
    plan = _Plan()
    seed = config.seed
    for i, p in enumerate(pairs):
        for order in ORDERS:
            judge = judge_messages(p.question, p.original, p.candidate, order)
            if logprobs:
                plan.add(i, order, "verdict", GenerateRequest(
                    judge, temperature=0.0, max_tokens=1, seed=seed,
                    top_logprobs=TOP_LOGPROBS, assistant_prefix=ANSWER_PREFIX))
            if config.explain or not logprobs:
                plan.add(i, order, "explain", GenerateRequest(
                    judge, temperature=0.0, max_tokens=config.explain_max_tokens, seed=seed))
            if config.samples:
                if config.sample_style == "direct":
                    req = GenerateRequest(judge, n=config.samples, temperature=1.0, max_tokens=3,
                                          seed=seed, assistant_prefix=ANSWER_PREFIX)
                else:
                    req = GenerateRequest(judge, n=config.samples, temperature=1.0,
                                          max_tokens=config.sample_max_tokens, seed=seed)
                plan.add(i, order, "samples", req)
            if config.reflection:
                refl = reflection_messages(p.question, p.original, p.candidate, order)
                if logprobs:
                    req = GenerateRequest(refl, temperature=0.0, max_tokens=1, seed=seed,
                                          top_logprobs=TOP_LOGPROBS, assistant_prefix=ANSWER_PREFIX)
                else:
                    req = GenerateRequest(refl, temperature=0.0,
                                          max_tokens=config.explain_max_tokens, seed=seed)
                plan.add(i, order, "reflection", req)
    return plan


def _letter(comp: Completion, prefixed: bool) -> tuple[str, dict[str, float] | None, str]:
    """(letter, letter probabilities, raw text) of a one-sample completion."""
    if not comp.ok or not comp.texts:
        return UNKNOWN, None, ""
    raw = comp.texts[0]
    probs = letter_probs(comp.first_token_logprobs[0]) if comp.first_token_logprobs else None
    letter = parse_letter(ANSWER_PREFIX + raw if prefixed else raw)
    if probs is not None and letter == UNKNOWN:
        letter = max(probs, key=lambda k: probs[k])
    return letter, probs, raw


def _summarise(order_parts: dict[str, dict[str, Any]], config: CorrectConfig,
               errors: list[str]) -> JudgeResult:
    verdicts: list[dict[str, Any]] = []
    prefs: list[float | None] = []
    refls: list[float | None] = []
    sample_sides: list[str] = []
    unknown = 0
    explanations = []
    for order in ORDERS:
        part = order_parts.get(order, {})
        letter = part.get("letter", UNKNOWN)
        probs = part.get("probs")
        pref = v.preference_from_probs(probs, order) if probs else v.preference_from_letter(letter, order)
        prefs.append(pref)
        unknown += letter == UNKNOWN
        sides = [v.side_of(s, order) for s in part.get("samples", [])]
        unknown += sum(1 for s in sides if s == UNKNOWN)
        sample_sides.extend(sides)
        refl_letter = part.get("reflection_letter")
        refl = None
        if refl_letter is not None:
            refl = v.reflection_certainty(refl_letter, part.get("reflection_probs"))
            unknown += refl is None
        refls.append(refl)
        if part.get("explanation"):
            explanations.append(f"[{order}] {part['explanation']}")
        verdicts.append({
            "order": order,
            "verdict": v.side_of(letter, order),
            "letter": letter,
            "probs": probs,
            "preference": pref,
            "samples": part.get("samples", []),
            "sample_sides": sides,
            "reflection": refl_letter,
            "reflection_probs": part.get("reflection_probs"),
            "reflection_certainty": refl,
            "raw": part.get("raw", ""),
        })
    preference = v.mean_or_none(prefs)
    cons = v.consistency(sample_sides) if config.samples else None
    refl_mean = v.mean_or_none(refls) if config.reflection else None
    confidence = v.combine(cons, refl_mean, config.beta)
    return JudgeResult(preference, cons, refl_mean, confidence, verdicts,
                       "\n".join(explanations), unknown, errors)


def judge_pairs(pairs: Sequence[Pair], backend: Backend, config: CorrectConfig) -> list[JudgeResult]:
    """Judge every pair (in order); a failed or unparsable reply counts as unknown."""
    logprobs = use_logprobs(backend, config)
    results: list[JudgeResult] = []
    for start in range(0, len(pairs), config.batch_size):
        chunk = pairs[start:start + config.batch_size]
        plan = _plan(chunk, config, logprobs)
        comps = backend.generate(plan.requests) if plan.requests else []
        parts: list[dict[str, dict[str, Any]]] = [{} for _ in chunk]
        errors: list[list[str]] = [[] for _ in chunk]
        for (i, order, kind), comp in zip(plan.slots, comps, strict=True):
            part = parts[i].setdefault(order, {})
            if not comp.ok:
                errors[i].append(f"{order} {kind}: {comp.error}")
            if kind == "verdict":
                part["letter"], part["probs"], part["raw"] = _letter(comp, prefixed=True)
            elif kind == "explain":
                raw = comp.texts[0] if comp.ok and comp.texts else ""
                part["explanation"] = parse_explanation(raw)
                if not logprobs:
                    part["letter"], part["raw"] = parse_letter(raw), raw
            elif kind == "samples":
                prefixed = config.sample_style == "direct"
                texts = comp.texts if comp.ok else [""] * config.samples
                part["samples"] = [parse_letter(ANSWER_PREFIX + t if prefixed else t) for t in texts]
            elif kind == "reflection":
                part["reflection_letter"], part["reflection_probs"], _ = _letter(comp, prefixed=logprobs)
        results.extend(_summarise(p, config, e) for p, e in zip(parts, errors, strict=True))
    return results
