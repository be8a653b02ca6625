"""The local engine: every chunk in this process, one after the other, in order. It is the
reference the other engines must match row for row."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from clearft.backends.usage import Usage
from clearft.engines.base import BackendProfile, BackendSpec, BatchStep, ChunkResult, Engine


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LocalEngine(Engine):
    name = "local"

    def map_chunks(self, step: BatchStep, chunks: Sequence[list[Any]]) -> Iterator[ChunkResult]:
        if not chunks:
            return
        step.setup()
        try:
            for index, chunk in enumerate(chunks):
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
