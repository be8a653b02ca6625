"""Model calls and tokens spent: counted by whatever calls a backend (scoring, the engines'
steps, evaluation), defined here beside the results it counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clearft.backends.base import Completion, LoglikelihoodResult


@dataclass
class Usage:
    """Model calls and tokens spent (cache hits included: the backend reports them alike)."""

    calls: int = 0  # backend.generate / backend.loglikelihood invocations
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Of prompt_tokens, those the server took from its prompt cache rather than evaluating
    # (what the server reports: llama.cpp, vLLM and OpenAI do; 0 where it does not say).
    cached_prompt_tokens: int = 0

    def add_completions(self, completions: Sequence[Completion]) -> None:
        self.calls += 1
        self.requests += len(completions)
        for c in completions:
            self.prompt_tokens += c.prompt_tokens
            self.completion_tokens += c.completion_tokens
            self.cached_prompt_tokens += c.cached_prompt_tokens

    def add_loglikelihoods(self, results: Sequence[LoglikelihoodResult]) -> None:
        self.calls += 1
        self.requests += len(results)
        self.prompt_tokens += sum(r.n_tokens for r in results)

    def merge(self, other: Usage) -> None:
        for name in ("calls", "requests", "prompt_tokens", "completion_tokens", "cached_prompt_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
