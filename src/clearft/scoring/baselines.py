"""Baseline scores in the same interface as BSDetector, each mapped into [0, 1], low = bad:

* ``perplexity``: exp(mean log-probability of the target given the prompt) = 1 / PPL(y|x);
* ``ifd``: instruction-following difficulty PPL(y|x) / PPL(y) (Li et al. 2023), mapped to
  1 / (1 + IFD): a target the prompt does not help predict (IFD >= 1) scores <= 0.5;
* ``judge-rating``: the model rates the example 1-5 (AlpaGasus); (E[rating] - 1) / 4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from clearft.backends.base import Backend, GenerateRequest, LoglikelihoodRequest
from clearft.data.example import Example
from clearft.scoring import parsing, prompts
from clearft.scoring.ask import RETRY_SEED_STRIDE, Ask, ask_all
from clearft.scoring.config import ScoreConfig
from clearft.scoring.result import ScoreResult, Usage, row_seed

RATINGS = ("1", "2", "3", "4", "5")


def perplexity_score(logprob: float, n_tokens: int) -> tuple[float, float]:
    """(score in (0, 1], perplexity) from a summed log-probability over n tokens."""
    mean = logprob / max(1, n_tokens)
    return math.exp(mean), math.exp(-mean)


def ifd_score(ppl_conditional: float, ppl_unconditional: float) -> tuple[float, float]:
    """(score in (0, 1), IFD) where IFD = PPL(y|x) / PPL(y)."""
    ifd = ppl_conditional / ppl_unconditional if ppl_unconditional > 0 else math.inf
    return 1.0 / (1.0 + ifd), ifd


def expected_rating(probs: dict[str, float]) -> float:
    return sum(int(r) * p for r, p in probs.items())


def score_perplexity(examples: Sequence[Example], backend: Backend, method: str, usage: Usage) -> list[ScoreResult]:
    requests = [LoglikelihoodRequest(ex.messages, ex.response) for ex in examples]
    if method == "ifd":
        requests += [LoglikelihoodRequest(prompts.EMPTY_PROMPT, ex.response) for ex in examples]
    results = backend.loglikelihood(requests)
    usage.add_loglikelihoods(results)
    out = []
    n = len(examples)
    for i, ex in enumerate(examples):
        cond = results[i]
        uncond = results[n + i] if method == "ifd" else None
        failed = [r.error for r in (cond, uncond) if r is not None and not r.ok]
        if failed:
            out.append(ScoreResult.failed(ex.id, method, "; ".join(e or "" for e in failed)))
            continue
        score, ppl = perplexity_score(cond.logprob, cond.n_tokens)
        evidence = {"perplexity": ppl, "logprob": cond.logprob, "n_tokens": cond.n_tokens}
        if uncond is not None:
            _, ppl_y = perplexity_score(uncond.logprob, uncond.n_tokens)
            score, ifd = ifd_score(ppl, ppl_y)
            evidence.update(perplexity_unconditional=ppl_y, ifd=ifd)
        out.append(ScoreResult(ex.id, score, method=method, evidence=evidence))
    return out


def _parse_prefilled_rating(_text: str, lps: dict[str, float] | None) -> dict[str, float] | None:
    probs = parsing.choice_probabilities(lps, RATINGS)
    if probs is not None:
        return probs
    value = parsing.parse_rating(prompts.RATING_PREFIX + _text)
    return {str(value): 1.0} if value else None


def _parse_sampled_rating(text: str, _lps: dict[str, float] | None) -> dict[str, float] | None:
    value = parsing.parse_rating(text)
    return {str(value): 1.0} if value else None


def score_judge_rating(
    examples: Sequence[Example], backend: Backend, config: ScoreConfig, usage: Usage
) -> list[ScoreResult]:
    use_logprobs = config.use_logprobs and backend.capabilities.top_logprobs
    asks = []
    for ex in examples:
        messages = prompts.judge_rating_messages(ex.prompt_text, ex.response)
        seed = row_seed(config.seed, ex.id, "rating")

        def sampled(_sample: int, attempt: int, messages: list = messages, seed: int = seed) -> Ask:
            req = GenerateRequest(messages, temperature=1.0, max_tokens=64, seed=seed + RETRY_SEED_STRIDE * attempt)
            return Ask(req, _parse_sampled_rating)

        if use_logprobs:
            req = GenerateRequest(messages, temperature=0.0, max_tokens=max(1, config.reflection_explain_tokens),
                                  seed=seed, top_logprobs=10, assistant_prefix=prompts.RATING_PREFIX)
            asks.append(Ask(req, _parse_prefilled_rating, sampled))
        else:
            req = GenerateRequest(messages, temperature=0.0, max_tokens=64, seed=seed)
            asks.append(Ask(req, _parse_sampled_rating, sampled))
    answers = ask_all(backend, asks, config.max_retries, usage)
    out = []
    for ex, (ans,) in zip(examples, answers, strict=True):
        evidence = {"rating_probs": ans.value, "raw": ans.text, "attempts": ans.attempts,
                    "unknown": int(not ans.parsed)}
        if ans.error:
            out.append(ScoreResult(ex.id, None, method="judge-rating", evidence=evidence, error=ans.error))
        elif not ans.parsed:
            out.append(ScoreResult(ex.id, None, method="judge-rating", evidence=evidence,
                                   error=f"no parseable rating after {config.max_retries} retries"))
        else:
            rating = expected_rating(ans.value)
            evidence["rating"] = rating
            out.append(ScoreResult(ex.id, (rating - 1) / 4, method="judge-rating", evidence=evidence))
    return out
