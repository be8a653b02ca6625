"""BSDetector over a batch of examples: every row's consistency samples and reflection
rounds go to the backend together (one batched call, or streamed to a server that takes
requests in parallel: ``ask.py``); the math lives in ``bsdetector.py``.

Also serves the two ablations: ``consistency`` (samples only) and ``self-reflection``
(reflection rounds only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clearft.backends.base import Backend, GenerateRequest
from clearft.data.example import Example
from clearft.scoring import bsdetector, parsing, prompts
from clearft.scoring.ask import RETRY_SEED_STRIDE, Answer, Ask, ask_all
from clearft.scoring.config import ScoreConfig
from clearft.scoring.result import ScoreResult, Usage, row_seed
from clearft.scoring.similarity import Similarity

# Sampled reflection verdicts (no log-probabilities, or a retry) need room for the
# explanation the template asks for before the letter.
SAMPLED_REFLECTION_TOKENS = 128
TOP_LOGPROBS = 10


def _parse_sample(text: str, _lps: dict[str, float] | None) -> tuple[str, str] | None:
    return parsing.extract_sample_answer(text)


def _parse_sampled_verdict(text: str, _lps: dict[str, float] | None) -> tuple[str, None] | None:
    letter = parsing.parse_choice(text)
    return (letter, None) if letter else None


def _parse_prefilled_verdict(text: str, lps: dict[str, float] | None) -> tuple[str, dict[str, float] | None] | None:
    """Letter-first reply after the prefix "answer: ": probabilities from the first token,
    else the letter the text starts with."""
    probs = parsing.choice_probabilities(lps)
    if probs is not None:
        return max(probs, key=lambda c: probs[c]), probs
    letter = parsing.parse_choice(prompts.ANSWER_PREFIX + text)
    return (letter, None) if letter else None


def _sampled_reflection(question: str, answer: str, round_index: int, seed: int, temperature: float) -> Ask:
    req = GenerateRequest(
        messages=prompts.reflection_messages(question, answer, round_index),
        temperature=temperature, max_tokens=SAMPLED_REFLECTION_TOKENS, seed=seed,
    )

    def retry(_sample: int, attempt: int) -> Ask:
        # Greedy decoding would repeat itself: re-ask by sampling, with a fresh seed.
        again = _sampled_reflection(question, answer, round_index, seed + RETRY_SEED_STRIDE * attempt, 1.0)
        again.retry = None
        return again

    return Ask(req, _parse_sampled_verdict, retry)


def _reflection_ask(ex: Example, round_index: int, config: ScoreConfig, use_logprobs: bool) -> Ask:
    seed = row_seed(config.seed, ex.id, f"reflection{round_index}")
    if not use_logprobs:
        return _sampled_reflection(ex.prompt_text, ex.response, round_index, seed, 0.0)
    req = GenerateRequest(
        messages=prompts.reflection_messages(ex.prompt_text, ex.response, round_index, letter_first=True),
        temperature=0.0, max_tokens=max(1, config.reflection_explain_tokens), seed=seed,
        top_logprobs=TOP_LOGPROBS, assistant_prefix=prompts.ANSWER_PREFIX,
    )

    def retry(_sample: int, attempt: int) -> Ask:
        # The first token was no letter: ask again in the paper's sampled form.
        return _sampled_reflection(ex.prompt_text, ex.response, round_index, seed + RETRY_SEED_STRIDE * attempt, 1.0)

    return Ask(req, _parse_prefilled_verdict, retry)


def _sample_ask(ex: Example, config: ScoreConfig) -> Ask:
    req = GenerateRequest(
        messages=prompts.sample_messages(ex.messages), n=config.k, temperature=config.temperature,
        max_tokens=config.sample_max_tokens, seed=row_seed(config.seed, ex.id, "samples"),
    )
    return Ask(req, _parse_sample)


def plan(method: str, config: ScoreConfig) -> tuple[int, int]:
    """(samples per row, reflection rounds per row) that `method` asks for."""
    k = config.k if method in ("bsdetector", "consistency") else 0
    rounds = config.rounds if method in ("bsdetector", "self-reflection") else 0
    return k, rounds


def _reflection_evidence(round_index: int, ans: Answer) -> dict[str, Any]:
    verdict, probs = ans.value if ans.parsed else ("unknown", None)
    return {
        "round": round_index + 1,
        "verdict": verdict,
        "probs": probs,
        "explanation": parsing.explanation_after_letter(ans.text) if probs is not None
        else _explanation_before_answer(ans.text),
        "raw": ans.text,
        "attempts": ans.attempts,
    }


def _explanation_before_answer(text: str) -> str:
    """The explanation part of an "explanation: ..., answer: X" reply."""
    low = text.lower()
    start = low.find("explanation:")
    end = low.rfind("answer:")
    start = start + len("explanation:") if start >= 0 else 0
    end = end if end > start else len(text)
    return text[start:end].strip().rstrip(",").strip()


def score_batch(
    examples: Sequence[Example],
    backend: Backend,
    config: ScoreConfig,
    method: str,
    similarity: Similarity | None,
    usage: Usage,
) -> list[ScoreResult]:
    k, rounds = plan(method, config)
    use_logprobs = config.use_logprobs and backend.capabilities.top_logprobs
    beta = {"consistency": 1.0, "self-reflection": 0.0}.get(method, config.beta)

    asks: list[Ask] = []
    layout: list[tuple[int | None, list[int]]] = []  # per row: sample ask index, reflection ask indices
    for ex in examples:
        sample_at = None
        if k:
            sample_at = len(asks)
            asks.append(_sample_ask(ex, config))
        reflect_at = []
        for r in range(rounds):
            reflect_at.append(len(asks))
            asks.append(_reflection_ask(ex, r, config, use_logprobs))
        layout.append((sample_at, reflect_at))

    answers = ask_all(backend, asks, config.max_retries, usage)

    # Similarities for every parsed sample of the batch in one call of the similarity model.
    whole = [parsing.compares_whole_reply(ex.response, config.compare) for ex in examples]
    pairs: list[tuple[str, str]] = []
    for ex, (sample_at, _), w in zip(examples, layout, whole, strict=True):
        if sample_at is not None:
            pairs.extend((a.text if w else a.value[0], ex.response) for a in answers[sample_at] if a.parsed)
    sims = iter(similarity(pairs) if (similarity is not None and pairs) else [])

    results = []
    for ex, (sample_at, reflect_at), w in zip(examples, layout, whole, strict=True):
        row_answers = (answers[sample_at] if sample_at is not None else []) + [answers[i][0] for i in reflect_at]
        errors = sorted({a.error for a in row_answers if a.error})
        samples: list[dict[str, Any]] = []
        if sample_at is not None:
            for a in answers[sample_at]:
                if a.parsed:
                    answer, source = a.value
                    match = (parsing.final_answers_match(a.text, ex.response) if w
                             else parsing.answers_match(answer, ex.response))
                    samples.append({"text": a.text, "answer": answer, "similarity": next(sims),
                                    "exact_match": match, "answer_source": source,
                                    "compared": "reply" if w else "answer"})
                else:
                    samples.append({"text": a.text, "answer": None, "similarity": None,
                                    "exact_match": None, "answer_source": None})
        reflections = [_reflection_evidence(r, answers[i][0]) for r, i in enumerate(reflect_at)]
        unknown = sum(s["answer"] is None for s in samples) + sum(r["verdict"] == "unknown" for r in reflections)
        evidence: dict[str, Any] = {"samples": samples, "reflections": reflections, "unknown": unknown}
        if errors:
            results.append(ScoreResult(ex.id, None, method=method, evidence=evidence, error="; ".join(errors)))
            continue
        parsed = [s for s in samples if s["answer"] is not None]
        consistency = bsdetector.observed_consistency(
            [s["similarity"] for s in parsed], [s["exact_match"] for s in parsed], config.alpha
        ) if k else None
        self_reflection = bsdetector.reflection_certainty(
            [bsdetector.verdict_certainty(r["verdict"], r["probs"]) for r in reflections]
        ) if rounds else None
        confidence = bsdetector.combine(consistency, self_reflection, beta)
        error = None
        if confidence is None:
            error = f"no parseable model output after {config.max_retries} retries ({unknown} unknown)"
        results.append(ScoreResult(ex.id, confidence, consistency, self_reflection, method, evidence, error))
    return results
