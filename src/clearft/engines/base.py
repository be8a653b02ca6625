"""The engine contract: where the steps of a run execute.

A *step* (score rows, write candidates, answer model requests) is applied chunk by chunk.
An engine takes a picklable step and the chunks (an iterable, pulled as it goes) and
yields each chunk's results as they finish. ``local`` runs them one after the other in
this process (the reference); ``ray`` streams them through Ray Data into actors that each
hold one model replica.

Live backends (a llama.cpp server, a GPU engine) cannot travel to another process, so a
step carries a ``BackendSpec``, the recipe that opens its backend where it runs (on the
local engine it may borrow a live backend instead: engines/steps.py).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from clearft.backends.usage import Usage
from clearft.errors import ClearftError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BackendSpec:
    """How to open a backend, in whichever process needs it (see backends/cache.py)."""

    name: str | None = None  # None: the default backend
    cache: str | None = None  # None: the default call cache; "off": none
    options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Backend:
        from clearft.backends.cache import open_backend

        return open_backend(self.name, cache=self.cache, **self.options)


@dataclass(frozen=True)
class EngineConfig:
    engine: str = "local"
    replicas: int = 1  # actors, each holding one model replica
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0
    # A Ray cluster to join ("auto", "ray://host:10001", "host:6379"); None: $RAY_ADDRESS if
    # set, else a local cluster started for this run.
    address: str | None = None
    # Whole-job retries for chunks still missing after a failure Ray could not absorb
    # (its own actor restarts and task retries come first).
    max_attempts: int = 3
    progress: bool = True

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise ClearftError(f"unknown engine '{self.engine}'; choose one of: {', '.join(ENGINES)}")
        if self.replicas < 1 or self.max_attempts < 1:
            raise ClearftError("--replicas and max_attempts must be >= 1")
        if self.cpus_per_replica < 0 or self.gpus_per_replica < 0:
            raise ClearftError("--cpus-per-replica and --gpus-per-replica must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BatchStep(ABC):
    """One step of a run. Picklable: it is built on the driver and sent to every replica,
    which calls ``setup`` once (open the model), ``run`` per chunk, then ``close``."""

    # Chunks a replica may hold queued at once (None: the engine's default). A step whose
    # chunks are long and few (a fold's fine-tune) sets 1, so they spread over the replicas
    # instead of queueing behind the first one ready.
    chunks_in_flight_per_replica: int | None = None

    def setup(self) -> None:  # noqa: B027 (an optional hook)
        """Open models; called once per replica, before the first chunk."""

    @abstractmethod
    def run(self, items: list[Any], usage: Usage) -> list[Any]:
        """Results for one chunk, one per item, in order; adds model calls to `usage`."""

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release what setup opened."""


@dataclass
class ChunkResult:
    index: int  # position of the chunk in the list given to the engine
    results: list[Any]
    usage: Usage
    worker: str = ""  # "host:pid" of the replica that ran it


@dataclass(frozen=True)
class BackendProfile:
    """What a run needs to know about a backend before it starts: identity (journal
    fingerprints, cache keys), capabilities (checked up front) and its description."""

    name: str
    model_id: str
    capabilities: Capabilities
    description: dict[str, Any]

    @classmethod
    def of(cls, backend: Backend) -> BackendProfile:
        return cls(backend.name, backend.model_id, backend.capabilities, backend.describe())


class ProfiledBackend(Backend):
    """A stand-in with a real backend's identity and capabilities, for the driver of a
    distributed run (fingerprints, capability checks, estimates, metadata). It answers
    no request itself: the replicas do."""

    def __init__(self, profile: BackendProfile, engine: str = "") -> None:
        self.profile = profile
        self.name = profile.name
        self.engine = engine

    @property
    def capabilities(self) -> Capabilities:
        # Batches, not streams: the driver's requests are noted or looked up (replay), not
        # sent to a server, and a batch keeps their order reproducible.
        return replace(self.profile.capabilities, parallel_requests=0)

    @property
    def model_id(self) -> str:
        return self.profile.model_id

    def describe(self) -> dict[str, Any]:
        extra = {"engine": self.engine} if self.engine else {}
        return {**self.profile.description, **extra}

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        raise ClearftError("internal: the driver's stand-in backend was asked to generate")

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise ClearftError("internal: the driver's stand-in backend was asked for log-likelihoods")


class Engine(ABC):
    name = "base"

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig(engine=self.name)

    @abstractmethod
    def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
        """Run `step` on every chunk; yield each ChunkResult as it finishes (any order), its
        index the chunk's position in `chunks` (an iterable: pull them as needed)."""

    @abstractmethod
    def profile(self, spec: BackendSpec) -> BackendProfile:
        """Open the backend once where replicas would run it, and describe it."""

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release what the engine started (a local Ray cluster)."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_chunks(
    engine: Engine,
    step: BatchStep,
    chunks: Iterable[list[Any]],
    on_chunk: Callable[[ChunkResult], None],
    log: Callable[[str], None] | None = None,
) -> None:
    """Every chunk exactly once through `on_chunk`, even if the engine fails part-way: the
    chunks not finished yet are sent again, up to `max_attempts` times. A chunk result
    that comes twice (a retried task) is passed on only once.

    `chunks` may be a lazy iterable: the engine pulls them as it goes (the local engine one
    at a time, so a long run's memory stays flat) and only the chunks handed to it and not
    finished yet are held here, for a resend. With `max_attempts` 1 nothing is resent and a
    failure is raised as it is."""
    pulled = [0]  # chunks taken from `chunks` so far

    def pull() -> Iterator[tuple[int, list[Any]]]:
        for index, chunk in enumerate(chunks):
            pulled[0] = index + 1
            yield index, chunk

    source = pull()
    unfinished: dict[int, list[Any]] = {}  # handed to the engine, not finished yet
    attempts = engine.config.max_attempts
    for attempt in range(1, attempts + 1):
        resend = list(unfinished.items())
        sent: list[int] = []  # position in this attempt's input -> chunk index

        def feed(resend: list[tuple[int, list[Any]]] = resend, sent: list[int] = sent) -> Iterator[list[Any]]:
            for index, chunk in itertools.chain(resend, source):
                unfinished[index] = chunk
                sent.append(index)
                yield chunk

        try:
            for result in engine.map_chunks(step, feed()):
                index = sent[result.index]
                if unfinished.pop(index, None) is None:
                    continue  # already passed on
                on_chunk(ChunkResult(index, result.results, result.usage, result.worker))
            return
        except ClearftError:
            raise
        except Exception as exc:  # a lost node, actors that ran out of restarts
            if attempts == 1:
                raise
            if attempt == attempts:
                left = len(unfinished) + sum(1 for _ in source)  # counts the chunks never sent too
                raise ClearftError(
                    f"the {engine.name} engine failed {attempts} times; {left} of {pulled[0]} chunks "
                    f"unfinished (finished ones are kept): {type(exc).__name__}: {exc}"
                ) from exc
            if log:
                log(f"{engine.name} engine: {type(exc).__name__}: {exc}; retrying the unfinished chunks "
                    f"(attempt {attempt + 1} of {attempts})")


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive chunks of `size` (the last one shorter), read lazily: the local runners' batches."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= max(1, size):
            yield batch
            batch = []
    if batch:
        yield batch


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """Consecutive chunks of `size` (the last one shorter), as the local runners batch."""
    return list(batches(items, size))


def backend_spec(name: str | None, cache: str | None, options: dict[str, Any]) -> BackendSpec:
    """A spec whose paths mean the same files in every replica: the default cache and
    relative cache and model paths are made absolute here, on the driver."""
    from clearft.backends.cache import DEFAULT_CACHE_PATH

    if cache is None and name != "fake":
        cache = str(Path.cwd() / DEFAULT_CACHE_PATH)
    elif cache is not None and str(cache).lower() not in ("off", "none", "no", "false", ""):
        cache = str(Path(cache).resolve())
    options = dict(options)
    model = options.get("model")
    if isinstance(model, str) and not Path(model).is_absolute() and Path(model).exists():
        options["model"] = str(Path(model).resolve())  # replicas may not share our directory
    return BackendSpec(name, cache, options)
