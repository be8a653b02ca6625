"""Steps that need a model: BackendStep (a step holding a BackendSpec), and RequestStep,
which answers model requests (record/replay). The stages' own steps subclass BackendStep
where the stage lives (scoring/step.py: ScoreStep).

Each step holds only picklable settings and a BackendSpec; its backend is opened in
``setup``, in the replica that runs it.
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
from clearft.backends.usage import Usage
from clearft.engines.base import BackendSpec, BatchStep


class BackendStep(BatchStep):
    """A step that calls a model: only its BackendSpec travels, each replica opens its own."""

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


# A model request as a step item: ("generate", GenerateRequest) or ("loglikelihood", LoglikelihoodRequest).
Call = tuple[str, GenerateRequest | LoglikelihoodRequest]


class RequestStep(BackendStep):
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
