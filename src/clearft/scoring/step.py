"""Scoring on an engine, the only way score_file scores rows with a model: ScoreStep
(score_examples on one chunk of rows) and score_on_engine, which cuts the rows still to score
into chunks of `batch_size` and hands each finished chunk to score_file's journal as it
arrives (scoring/runfile.py's score_file does the rest of the run: validation, journal,
resume, output, metadata).

Without an engine, score_file runs this on a LocalEngine with the backend its caller opened
(the step borrows it: it neither opens nor closes it); on an engine such as Ray, the step
carries a BackendSpec and every replica opens its own model. Tests check that the outputs
are the same row for row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from clearft.backends.base import Backend
from clearft.backends.usage import Usage
from clearft.data.example import Example
from clearft.engines.base import BackendSpec, ChunkResult, Engine, batches, run_chunks
from clearft.engines.steps import BackendStep
from clearft.scoring.config import ScoreConfig
from clearft.scoring.result import ScoreResult


class ScoreStep(BackendStep):
    """score_examples on one chunk of rows, with the model `spec` opens (in each replica), or
    a live backend the caller opened (the local engine; see BackendStep). The similarity
    model is loaded once per engine job, in setup."""

    def __init__(self, spec: BackendSpec | Backend, config: ScoreConfig, method: str) -> None:
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
    backend: BackendSpec | Backend,
    config: ScoreConfig,
    method: str,
    todo: Iterable[Example],
    record: RecordFn,
    log: Callable[[str], None] | None = None,
) -> None:
    """Score `todo` on `engine` with `backend` (a BackendSpec, or on the local engine a live
    Backend); `record(rows, results, usage)` gets each chunk as it finishes. The rows are read
    as the engine takes them: on the local engine one chunk at a time is held."""
    waiting: dict[int, list[Example]] = {}  # chunks handed out, not recorded yet

    def chunks() -> Iterator[list[Example]]:
        for index, chunk in enumerate(batches(todo, config.batch_size)):
            waiting[index] = chunk
            yield chunk

    def on_chunk(done: ChunkResult) -> None:
        record(waiting.pop(done.index), done.results, done.usage)

    run_chunks(engine, ScoreStep(backend, config, method), chunks(), on_chunk, log)
