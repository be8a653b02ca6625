"""score_file on an engine: scoring/runfile.py's score_file(..., engine=) does the whole run
(validation, journal, resume, output, metadata); the engine-specific part is here. The rows
still to score are cut into exactly the chunks score_file would send to its own backend, and
the engine's replicas score them (ScoreStep); each finished chunk goes to score_file's
journal as it arrives. Tests check that the outputs are equal row for row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from clearft.data.example import Example
from clearft.engines.base import BackendSpec, ChunkResult, Engine, chunked, run_chunks
from clearft.engines.steps import ScoreStep
from clearft.scoring.config import ScoreConfig
from clearft.scoring.result import ScoreResult, ScoreSummary, Usage
from clearft.scoring.runfile import score_file

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


def score_file_on_engine(
    input: str | Path,
    output: str | Path,
    backend: BackendSpec,
    config: ScoreConfig,
    engine: Engine,
    **options: Any,
) -> ScoreSummary:
    """score_file(input, output, backend, config, engine=engine, **options)."""
    return score_file(input, output, backend, config, engine=engine, **options)
