"""The local engine: every chunk in this process, one after the other, in order, each taken
from the caller's chunks only when the one before it is done. It is the reference the other
engines must match row for row, and the only local path: score_file without an engine runs
on one too, with the backend its caller opened (scoring/step.py)."""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterable, Iterator
from typing import Any

from clearft.backends.usage import Usage
from clearft.engines.base import (
    BackendProfile,
    BackendSpec,
    BatchStep,
    ChunkResult,
    Engine,
    EngineConfig,
)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LocalEngine(Engine):
    name = "local"

    def map_chunks(self, step: BatchStep, chunks: Iterable[list[Any]]) -> Iterator[ChunkResult]:
        it = iter(chunks)
        first = next(it, None)
        if first is None:
            return  # nothing to do: the step is not even set up
        step.setup()
        try:
            for index, chunk in enumerate(itertools.chain([first], it)):
                usage = Usage()
                yield ChunkResult(index, step.run(chunk, usage), usage, worker_name())
        finally:
            step.close()

    def profile(self, spec: BackendSpec) -> BackendProfile:
        backend = spec.open()
        try:
            return BackendProfile.of(backend)
        finally:
            backend.close()


def in_process(progress: bool = False) -> LocalEngine:
    """The local engine a step runs on when its caller gave none (the local path of every
    command and of the Python API): a failure is raised as it is, not retried (a retry in
    this process would only meet it again)."""
    return LocalEngine(EngineConfig(max_attempts=1, progress=progress))
