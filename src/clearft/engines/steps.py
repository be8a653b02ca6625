"""Steps that need a model: BackendStep (a step holding a BackendSpec, or a live backend on
the local engine), and RequestStep, which answers model requests (record/replay). The
stages' own steps subclass BackendStep where the stage lives (scoring/step.py: ScoreStep).

A step that travels to replicas holds only picklable settings and a BackendSpec; its backend
is opened in ``setup``, in the replica that runs it. On the local engine a step may instead
borrow a backend its caller already opened (the local path of every command and of the Python
API): the step uses it, never opens or closes it, and refuses to be pickled.
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
from clearft.errors import ClearftError


class BackendStep(BatchStep):
    """A step that calls a model: only its BackendSpec travels, each replica opens its own.
    Given a live `Backend` instead, the step borrows it (the local engine only): its caller
    opened it and closes it."""

    def __init__(self, spec: BackendSpec | Backend) -> None:
        self.spec: BackendSpec | None = None
        self._backend: Backend | None = None
        if isinstance(spec, Backend):
            self._backend = spec
        else:
            self.spec = spec
        self._borrowed = self._backend is not None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            assert self.spec is not None  # a borrowed backend is never dropped
            self._backend = self.spec.open()
        return self._backend

    def setup(self) -> None:
        _ = self.backend

    def close(self) -> None:
        if self._backend is not None and not self._borrowed:
            self._backend.close()
            self._backend = None

    def __getstate__(self) -> dict[str, Any]:
        if self._borrowed:
            raise ClearftError(f"{type(self).__name__} holds a live backend, which runs on the local engine "
                               "only; give replicas a BackendSpec")
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
