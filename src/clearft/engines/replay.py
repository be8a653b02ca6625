"""Distribute any model-driven step without rewriting it: record, answer, replay.

A step such as Auto-Correct only talks to models through the backend contract. We run it
on the driver with *replay* backends: a request already answered gets its answer; any
other request gets a placeholder error and is noted. The engine's replicas then answer the
noted requests, and the step runs again. When a pass makes no new request, its output is
final and every reply in it came from a real model. A step whose next requests depend on
earlier replies (candidates, then their judging) just takes one more pass per round.

On Ray each pass is cheap (no model on the driver); on the local engine a backend open in this
process answers the noted requests. Either way the backends' call cache records every answer
as it finishes, so a rerun after a crash skips them. Answers are kept under a digest of their
request (not the request's text), so a stage holds one copy of its prompts at most: those of
the pass still pending.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from clearft.backends.base import (
    Backend,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from clearft.backends.delegating import DelegatingBackend
from clearft.engines.base import (
    BackendProfile,
    BackendSpec,
    ChunkResult,
    Engine,
    ProfiledBackend,
    chunked,
    run_chunks,
)
from clearft.engines.steps import Call, RequestStep
from clearft.errors import ClearftError

T = TypeVar("T")
PENDING = "pending: not answered yet (replayed after the engine answers it)"
DEFAULT_REQUESTS_PER_CHUNK = 64
MAX_PASSES = 8


def call_key(kind: str, request: GenerateRequest | LoglikelihoodRequest) -> str:
    """The key an answer is kept under: a digest of the request, not its text."""
    return hashlib.blake2b(f"{kind}\x1f{request.key()}".encode(), digest_size=16).hexdigest()


class ReplayBackend(DelegatingBackend):
    """Answers from `answers` (call key -> result); notes every request it cannot answer.
    Its identity, capabilities and description are the profiled backend's (its `inner`, a
    stand-in that answers nothing), so fingerprints and checks match a real run's."""

    def __init__(self, profile: BackendProfile, answers: Mapping[str, Any], engine: str = "") -> None:
        super().__init__(ProfiledBackend(profile, engine))
        self.answers = answers
        self.pending: dict[str, Call] = {}

    def _lookup(self, kind: str, request: GenerateRequest | LoglikelihoodRequest, missing: Any) -> Any:
        key = call_key(kind, request)
        if key in self.answers:
            return self.answers[key]
        self.pending.setdefault(key, (kind, request))
        return missing

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        return [self._lookup("generate", r, Completion(texts=[], error=PENDING)) for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return [self._lookup("loglikelihood", r, LoglikelihoodResult(0.0, 0, error=PENDING))
                for r in requests]


def replay_until_complete(
    work: Callable[[dict[str, ReplayBackend]], T],
    specs: Mapping[str, BackendSpec | Backend],
    engine: Engine,
    *,
    requests_per_chunk: int = DEFAULT_REQUESTS_PER_CHUNK,
    log: Callable[[str], None] | None = None,
) -> T:
    """Run `work(backends by role)` until it asks for nothing unanswered; return that
    last pass's result. `specs` names a backend per role (e.g. "judge", "candidate"): the
    recipe the engine's replicas open it from, or, on the local engine, a backend already
    open in this process, which answers the requests itself (its caller closes it)."""
    profiles = {role: BackendProfile.of(spec) if isinstance(spec, Backend) else engine.profile(spec)
                for role, spec in specs.items()}
    answers: dict[str, dict[str, Any]] = {role: {} for role in specs}
    from tqdm.auto import tqdm

    for n in range(1, MAX_PASSES + 1):
        backends = {role: ReplayBackend(profiles[role], answers[role], engine.name) for role in specs}
        result = work(backends)
        pending = {role: b.pending for role, b in backends.items() if b.pending}
        if not pending:
            return result
        for role, calls in pending.items():
            keys = list(calls)
            if log:
                log(f"pass {n}: {len(keys)} {role} requests to the {engine.name} engine")
            key_chunks = chunked(keys, requests_per_chunk)
            call_chunks = [[calls[k] for k in ks] for ks in key_chunks]
            # Ray Data draws its own bars; the local engine gets one per pass and role
            bar = tqdm(total=len(keys), desc=f"{role} requests", unit="request",
                       disable=not (engine.config.progress and engine.name == "local"))

            def store(done: ChunkResult, role: str = role, key_chunks: list[list[str]] = key_chunks,
                      bar: Any = bar) -> None:
                for key, answer in zip(key_chunks[done.index], done.results, strict=True):
                    answers[role][key] = answer
                bar.update(len(done.results))

            with bar:
                run_chunks(engine, RequestStep(specs[role]), call_chunks, store, log)
    raise ClearftError(f"the step still asked for new model requests after {MAX_PASSES} passes")
