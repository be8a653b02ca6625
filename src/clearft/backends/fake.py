"""A scripted, network-free backend for fast unit tests (in the spirit of llm's MockModel).

Replies come from, in order of precedence: a queue filled with ``enqueue``; a ``responder``
function of the request; else an echo of the last user message. Every call is recorded
in ``calls`` so tests can assert what the code asked for.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Callable, Sequence

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)

Responder = Callable[[GenerateRequest, int], str]  # (request, sample index) -> text
Scorer = Callable[[LoglikelihoodRequest], float]


class FakeBackend(Backend):
    name = "fake"

    def __init__(
        self,
        responder: Responder | None = None,
        scorer: Scorer | None = None,
        logprobs: bool = True,
        choice_logprobs: Callable[[GenerateRequest], dict[str, float]] | None = None,
        fail_when: Callable[[GenerateRequest], bool] | None = None,
        model: str | None = None,
        parallel: int = 0,
    ) -> None:
        # `model` lets the CLI and `clearft run` name a (fine-tuned) model as they do for real
        # backends; it only changes model_id, so cached calls of two models never mix.
        self.model = model
        self._queue: deque[str] = deque()
        self.responder = responder
        self.scorer = scorer
        self.choice_logprobs = choice_logprobs
        self.fail_when = fail_when
        self._logprobs = logprobs
        self.parallel = parallel  # Capabilities.parallel_requests: > 1 lets callers stream requests
        self.calls: list[GenerateRequest | LoglikelihoodRequest] = []

    def enqueue(self, *texts: str) -> None:
        self._queue.extend(texts)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loglikelihood=self._logprobs, top_logprobs=self._logprobs, max_context=4096,
            parallel_requests=self.parallel,
        )

    @property
    def model_id(self) -> str:
        return "fake-model" if self.model is None else f"fake-model:{self.model}"

    def _reply(self, req: GenerateRequest, i: int) -> str:
        if self._queue:
            return self._queue.popleft()
        if self.responder is not None:
            return self.responder(req, i)
        user = [m["content"] for m in req.messages if m["role"] == "user"]
        return user[-1] if user else ""

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        out = []
        for req in requests:
            self.calls.append(req)
            if self.fail_when is not None and self.fail_when(req):
                out.append(Completion(texts=[], error="scripted failure"))
                continue
            # Like a real server, refuse what does not fit the context (words count as tokens).
            words = sum(len(m["content"].split()) for m in req.messages)
            if words + req.max_tokens > self.capabilities.max_context:
                out.append(Completion(texts=[], error=(
                    f"the prompt ({words} tokens) plus max_tokens ({req.max_tokens}) exceeds the "
                    f"model's context of {self.capabilities.max_context} tokens")))
                continue
            texts = [self._reply(req, i) for i in range(req.n)]
            firsts = None
            if req.top_logprobs:
                dist = self.choice_logprobs(req) if self.choice_logprobs else {}
                firsts = [dict(dist) for _ in texts]
            out.append(
                Completion(
                    texts=texts,
                    first_token_logprobs=firsts,
                    prompt_tokens=sum(len(m["content"].split()) for m in req.messages),
                    completion_tokens=sum(len(t.split()) for t in texts),
                )
            )
        return out

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if not self._logprobs:
            return super().loglikelihood(requests)
        out = []
        for req in requests:
            self.calls.append(req)
            n = max(1, len(req.continuation.split()))
            if self.scorer is not None:
                lp = self.scorer(req)
            else:
                # Deterministic pseudo-score in (-inf, 0): stable across runs and batch sizes.
                h = int(hashlib.sha256(req.key().encode()).hexdigest()[:8], 16)
                lp = n * math.log((h % 1000 + 1) / 1001)
            out.append(LoglikelihoodResult(logprob=lp, n_tokens=n))
        return out
