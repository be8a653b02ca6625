"""Scoring on an engine: ScoreStep (score_examples on one chunk of rows, exactly as the local
runner calls it) and score_on_engine, which cuts the rows still to score into the chunks
score_file would send to its own backend and hands each finished chunk to score_file's
journal as it arrives (scoring/runfile.py's score_file(..., engine=) does the rest of the
run: validation, journal, resume, output, metadata). Tests check that the outputs equal the
local runner's row for row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from clearft.backends.usage import Usage
from clearft.data.example import Example
from clearft.engines.base import BackendSpec, ChunkResult, Engine, chunked, run_chunks
from clearft.engines.steps import BackendStep
from clearft.scoring.config import ScoreConfig
from clearft.scoring.result import ScoreResult


class ScoreStep(BackendStep):
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


RecordFn = Callable[[list[Example], list[ScoreResult], Usage], None]


def score_on_engine(
    engine: Engine,
    spec: BackendSpec,
    config: ScoreConfig,
    method: str,
    todo: Iterable[Example],
    record: RecordFn,
    log: Callable[[str], None] | None = None,
) -> None:
    """Score `todo` on `engine`; `record(rows, results, usage)` gets each chunk as it finishes."""
    chunks = chunked(list(todo), config.batch_size)

    def on_chunk(done: ChunkResult) -> None:
        record(chunks[done.index], done.results, done.usage)

    run_chunks(engine, ScoreStep(spec, config, method), chunks, on_chunk, log)
