"""score_examples: one entry point over every method, batch in, results out (same order).

A batch that raises (rather than returning per-request errors) is retried row by row, so
one bad row gets an error record and the others are still scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from clearft.backends.base import Backend
from clearft.data.example import Example
from clearft.errors import CapabilityError, ClearftError, MissingDependencyError
from clearft.scoring.config import DATASET_METHODS, ScoreConfig
from clearft.scoring.result import ScoreResult, Usage
from clearft.scoring.similarity import Similarity, get_similarity

# The free-text method "auto" stands for on each backend: the one on that backend's measured
# quality-per-second frontier. On the embedded llama.cpp model IFD finds swapped GSM8K
# solutions as well as BSDetector and near misses no worse, at several times its rows/s
# (bench/frontier.py, bench/results/scoring.md, session 15). Elsewhere -- unmeasured, and
# where a larger model can judge its own answers (the paper's case) -- BSDetector, the
# paper's method, which also needs no log-probabilities. `--method bsdetector` is always there.
FREE_TEXT_DEFAULT = {"llamacpp": "ifd"}


def free_text_method(backend: Backend | None) -> str:
    """The method "auto" stands for on free-text targets, scored on `backend`."""
    if backend is None or not backend.capabilities.loglikelihood:
        return "bsdetector"
    return FREE_TEXT_DEFAULT.get(backend.name, "bsdetector")


def resolve_method(config: ScoreConfig, examples: Iterable[Example], backend: Backend | None = None) -> str:
    """The method "auto" stands for, given the examples: embedding-classifier when the targets are
    class labels (measured far better there, bench/results/scoring.md), else the backend's
    free-text default (free_text_method): the one label-space rule (scoring/label_space.py), on
    the classes the targets stand for (choice letters count by the option text they stand for)."""
    if config.method != "auto":
        return config.method
    from clearft.scoring.label_space import class_space

    labels = class_space(examples, config.max_label_values)
    return "embedding-classifier" if labels is not None else free_text_method(backend)


def check_backend(method: str, backend: Backend | None) -> None:
    """Fail before any row is scored if the method cannot run on this backend."""
    if method in DATASET_METHODS:
        return
    if backend is None:
        raise ClearftError(f"the '{method}' method needs a model backend")
    if method in ("perplexity", "ifd"):
        backend.require("loglikelihood", purpose=f"the '{method}' method")


def score_examples(
    examples: Sequence[Example],
    backend: Backend | None,
    config: ScoreConfig,
    usage: Usage | None = None,
    similarity: Similarity | None = None,
    method: str | None = None,
) -> list[ScoreResult]:
    """Score a batch. Every row's requests go to the backend together. `method` overrides
    config.method (already resolved from "auto" by the caller, for file-level runs)."""
    usage = usage if usage is not None else Usage()
    method = method or resolve_method(config, examples, backend)
    check_backend(method, backend)
    if not examples:
        return []
    if method in DATASET_METHODS:
        from clearft.scoring.label_model import score_labels

        return score_labels(examples, config)
    assert backend is not None
    if similarity is None and method in ("bsdetector", "consistency") and config.k:
        similarity = get_similarity(config.similarity, config.nli_model)
    try:
        return _score_rows(examples, backend, config, method, similarity, usage)
    except (CapabilityError, MissingDependencyError):
        raise
    except Exception as exc:
        if len(examples) == 1:
            return [ScoreResult.failed(examples[0].id, method, f"{type(exc).__name__}: {exc}")]
        return [r for ex in examples for r in score_examples([ex], backend, config, usage, similarity, method)]


def _score_rows(
    examples: Sequence[Example], backend: Backend, config: ScoreConfig, method: str,
    similarity: Similarity | None, usage: Usage,
) -> list[ScoreResult]:
    if method in ("perplexity", "ifd"):
        from clearft.scoring.baselines import score_perplexity

        return score_perplexity(examples, backend, method, usage)
    if method == "judge-rating":
        from clearft.scoring.baselines import score_judge_rating

        return score_judge_rating(examples, backend, config, usage)
    from clearft.scoring.bsdetector_method import score_batch

    return score_batch(examples, backend, config, method, similarity, usage)


def estimate(examples: Iterable[Example], method: str, config: ScoreConfig, backend: Backend | None) -> dict[str, int]:
    """What a run will cost before it starts: requests, batched calls and tokens (prompt
    tokens estimated at 4 characters a token; generated tokens at their maximum)."""
    from clearft.scoring.bsdetector_method import SAMPLED_REFLECTION_TOKENS, plan

    n = prompt_chars = 0
    for ex in examples:  # one streamed pass
        n += 1
        prompt_chars += len(ex.prompt_text) + len(ex.response)
    batches = -(-n // config.batch_size) if n else 0
    est = {"rows": n, "requests": 0, "generated_samples": 0, "loglikelihood_requests": 0,
           "backend_calls": 0, "prompt_tokens": 0, "max_completion_tokens": 0}
    if method in DATASET_METHODS:
        return est
    if method in ("perplexity", "ifd"):
        per_row = 2 if method == "ifd" else 1
        est.update(requests=per_row * n, loglikelihood_requests=per_row * n, backend_calls=batches,
                   prompt_tokens=per_row * prompt_chars // 4)
        return est
    if method == "judge-rating":
        lp = config.use_logprobs and backend is not None and backend.capabilities.top_logprobs
        est.update(requests=n, generated_samples=n, backend_calls=batches,
                   prompt_tokens=(prompt_chars + 400 * n) // 4,
                   max_completion_tokens=n * (max(1, config.reflection_explain_tokens) if lp else 64))
        return est
    k, rounds = plan(method, config)
    lp = config.use_logprobs and backend is not None and backend.capabilities.top_logprobs
    reflection_tokens = max(1, config.reflection_explain_tokens) if lp else SAMPLED_REFLECTION_TOKENS
    est.update(
        requests=n * ((1 if k else 0) + rounds),
        generated_samples=n * (k + rounds),
        backend_calls=batches,
        # Each sample request and reflection round carries the prompt (+ ~60 tokens of template).
        prompt_tokens=((1 if k else 0) + rounds) * (prompt_chars // 4 + 60 * n),
        max_completion_tokens=n * (k * config.sample_max_tokens + rounds * reflection_tokens),
    )
    return est
