"""`clearft run` on an engine: a pipeline Toolkit whose model stages (score, Auto-Correct's
candidates and its judging, evaluation) run their steps on the engine's replicas, where the
local toolkit runs the same steps on the local engine. The other stages (filter, fine-tune)
are the base toolkit's. The stages share the command's one engine
(engines/options.py's CommandEngine), opened when the first of them needs it and closed
when the run ends (Toolkit.close). Each stage's outputs equal the local runner's row for row, and a rerun resumes the same way: finished stages from state.json,
finished rows from the journal (score) or the replicas' call cache (candidates, judge).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.engines.base import EngineConfig, backend_spec
from clearft.engines.options import CommandEngine, command_engine
from clearft.pipeline.config import RunConfig
from clearft.pipeline.toolkit import (
    StageModel,
    Toolkit,
    crossfit_score,
    default_candidates,
    default_correct,
    default_evaluate,
    run_score_config,
)


def toolkit_on_engine(engine: EngineConfig | CommandEngine, base: Toolkit | None = None) -> Toolkit:
    """`base` (default: the pipeline's own toolkit) with its model stages on `engine`, all
    of them on one engine that the toolkit's `close` releases."""
    shared = engine if isinstance(engine, CommandEngine) else CommandEngine(engine)

    def score(input_path: Path, output: Path, backend: Backend, config: RunConfig) -> dict[str, Any]:
        from clearft.scoring import score_file

        score_config = run_score_config(config)
        if config.cross_fit:  # each fold (fine-tune + scoring) on a replica
            return crossfit_score(input_path, output, backend, config, score_config, engine=shared.get())
        spec = backend_spec(config.backend, config.cache, config.backend_options)
        summary = score_file(input_path, output, spec, score_config, engine=shared.get(),
                             progress=config.progress, data_options=config.data_options)
        return {**asdict(summary), "model_id": backend.model_id}

    def candidates(to_correct: Path, output: Path, model: StageModel, config: RunConfig) -> dict[str, Any]:
        return default_candidates(to_correct, output, model, config, engine=shared.get())

    def correct(candidates: Path, corrected: Path, uncorrected: Path, judge: StageModel, context: list[Any],
                config: RunConfig) -> dict[str, Any]:
        return default_correct(candidates, corrected, uncorrected, judge, context, config, engine=shared.get())

    def evaluate(model: str, test: Path, config: RunConfig) -> dict[str, Any]:
        return default_evaluate(model, test, config, engine=shared.get())

    base = base or Toolkit()
    base_close = base.close

    def close() -> None:
        try:
            shared.close()
        finally:
            base_close()

    return replace(base, score=score, candidates=candidates, correct=correct, evaluate=evaluate, close=close)


def engine_toolkit(args: argparse.Namespace) -> Toolkit | None:
    """For `clearft run`: a pipeline Toolkit whose model stages (score, Auto-Correct's
    candidates and judge) run on the chosen engine (None for the local engine: the
    pipeline's own toolkit)."""
    engine = command_engine(args)
    return None if engine.local else toolkit_on_engine(engine)
