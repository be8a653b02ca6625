"""The one contract every model backend implements.

Two batched methods, mirroring lm-evaluation-harness:

* ``generate``: n samples for each of many chat prompts (temperature, max tokens, stop,
  seed), optionally with the top log-probabilities of each sample's first token (that is
  how choice probabilities such as P(A), P(B), P(C) are read in one cheap call);
* ``loglikelihood``: the log-probability of a given assistant continuation (perplexity,
  probability of a given label).

Both take a list and return a list of the same length, in order. A request that fails
returns a result with ``error`` set instead of raising, so one bad row never kills a
batch. A backend states what it can do in ``Capabilities``; callers check it with
``require`` *before* a run starts, never half-way.

Sampling is reproducible: sample i of a request uses seed ``seed + i``; the same seed on
the same backend and model gives the same text.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from clearft.errors import CapabilityError
from clearft.messages import Message

__all__ = [
    "Backend", "Capabilities", "Completion", "GenerateRequest", "LoglikelihoodRequest",
    "LoglikelihoodResult", "Message",
]


@dataclass(frozen=True)
class Capabilities:
    loglikelihood: bool = False  # scores an arbitrary continuation
    top_logprobs: bool = False  # reports top log-probabilities of generated tokens
    chat_template: bool = True  # applies the model's own chat template
    seeded_sampling: bool = True  # the same seed gives the same sample
    max_context: int = 2048  # tokens of prompt + output the model accepts
    # > 1: a server that takes this many single requests at once, each from its own thread
    # (llama.cpp's slots, an HTTP server), so a caller may stream requests to it one by one
    # and send a retry as soon as an answer comes back; 0: send whole batches (a backend
    # that batches itself, such as transformers or vLLM in-process).
    parallel_requests: int = 0


@dataclass
class GenerateRequest:
    messages: list[Message]
    n: int = 1
    temperature: float = 0.0
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    seed: int = 0
    # If > 0, each sample also reports the top-k log-probabilities of its first token.
    top_logprobs: int = 0
    # Text the assistant turn is forced to start with; the sample continues after it.
    assistant_prefix: str = ""

    def key(self) -> str:
        """Canonical JSON of everything that determines the output (used by the cache)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    def single(self, i: int) -> GenerateRequest:
        """Sample i of this request as its own one-sample request (seed + i)."""
        d = asdict(self)
        d.update(n=1, seed=self.seed + i)
        return GenerateRequest(**d)


@dataclass
class Completion:
    texts: list[str]
    # Per sample: {token text: log-probability} for the first generated token (if asked).
    first_token_logprobs: list[dict[str, float]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    # Of prompt_tokens, those the server took from its prompt cache instead of evaluating
    # (0 where the backend does not say).
    cached_prompt_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LoglikelihoodRequest:
    messages: list[Message]
    continuation: str  # assistant text whose log-probability is wanted
    assistant_prefix: str = ""  # assistant text before the continuation (conditioned on)

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


@dataclass
class LoglikelihoodResult:
    logprob: float  # sum of the continuation tokens' log-probabilities
    n_tokens: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(ABC):
    """A model behind the batched contract. Subclasses import heavy libraries lazily."""

    name: str = "base"

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Stable identity of the model (file hash, or server + model name) for caching."""

    @abstractmethod
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]: ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise CapabilityError(
            f"the '{self.name}' backend cannot score continuations (no log-probabilities); "
            "choose a method that only generates, or a backend with log-probabilities "
            "(llamacpp, transformers)"
        )

    def describe(self) -> dict[str, Any]:
        """What gets recorded with outputs: backend, model identity, capabilities."""
        return {"backend": self.name, "model_id": self.model_id, **asdict(self.capabilities)}

    def require(self, *needs: str, purpose: str = "this method") -> None:
        """Fail before a run starts if the backend lacks a capability the run needs."""
        caps = self.capabilities
        missing = [n for n in needs if not getattr(caps, n)]
        if missing:
            raise CapabilityError(
                f"{purpose} needs {', '.join(missing)}, which the '{self.name}' backend "
                f"({self.model_id}) does not offer"
            )

    def close(self) -> None:  # noqa: B027 - optional hook: most backends hold nothing to free
        """Release the model (threads, server, memory). Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
