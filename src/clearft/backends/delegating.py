"""The base of backends that wrap another backend (the call cache, cross-fit's fold router,
the engines' replay backend, the benches' timing wrappers): everything is forwarded to
`inner`; a wrapper overrides only what it changes. (The engines' ProfiledBackend is the one
backend-like class that is no wrapper: it has no backend to forward to, only a profile of
one, and it answers nothing; the replay backend wraps it.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)


class DelegatingBackend(Backend):
    """`inner`, under its own name, model identity and capabilities."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name  # outputs record the real backend, not the wrapper

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        return self.inner.generate(requests)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self.inner.loglikelihood(requests)

    def close(self) -> None:
        self.inner.close()
