"""The steps engines run, chunk by chunk: score rows, and answer model requests.

Each step holds only picklable settings and a BackendSpec; its backend (and similarity
model) is opened in ``setup``, in the replica that runs it.
"""

from __future__ import annotations

from typing import Any

from clearft.backends.base import (
    Backend,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from clearft.data.example import Example
from clearft.engines.base import BackendSpec, BatchStep
from clearft.scoring.config import ScoreConfig
from clearft.scoring.result import ScoreResult, Usage


class _BackendStep(BatchStep):
    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self.spec.open()
        return self._backend

    def setup(self) -> None:
        _ = self.backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __getstate__(self) -> dict[str, Any]:
        # Only the recipe travels; a replica opens its own backend.
        return {**self.__dict__, "_backend": None}


class ScoreStep(_BackendStep):
    """score_examples on one chunk of rows, exactly as the local runner calls it."""

    def __init__(self, spec: BackendSpec, config: ScoreConfig, method: str) -> None:
        super().__init__(spec)
        self.config = config
        self.method = method
        self._similarity: Any = None

    def setup(self) -> None:
        super().setup()
        if self.method in ("bsdetector", "consistency") and self.config.k and self._similarity is None:
            from clearft.scoring.similarity import get_similarity

            self._similarity = get_similarity(self.config.similarity, self.config.nli_model)

    def run(self, items: list[Example], usage: Usage) -> list[ScoreResult]:
        from clearft.scoring.engine import score_examples

        if self._similarity is None:
            self.setup()
        return score_examples(items, self.backend, self.config, usage, self._similarity, self.method)

    def close(self) -> None:
        super().close()
        self._similarity = None

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_similarity": None}


# A model request as a step item: ("generate", GenerateRequest) or ("loglikelihood", LoglikelihoodRequest).
Call = tuple[str, GenerateRequest | LoglikelihoodRequest]


class RequestStep(_BackendStep):
    """Answer a chunk of model requests (generate and log-likelihood, in order)."""

    def run(self, items: list[Call], usage: Usage) -> list[Completion | LoglikelihoodResult]:
        gen = [(i, r) for i, (kind, r) in enumerate(items) if kind == "generate"]
        ll = [(i, r) for i, (kind, r) in enumerate(items) if kind == "loglikelihood"]
        out: list[Any] = [None] * len(items)
        if gen:
            comps = self.backend.generate([r for _, r in gen])  # type: ignore[misc]
            usage.add_completions(comps)
            for (i, _), c in zip(gen, comps, strict=True):
                out[i] = c
        if ll:
            res = self.backend.loglikelihood([r for _, r in ll])  # type: ignore[misc]
            usage.add_loglikelihoods(res)
            for (i, _), r in zip(ll, res, strict=True):
                out[i] = r
        return out
