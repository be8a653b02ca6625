"""`clearft run` on an engine: a pipeline Toolkit whose model stages (score, Auto-Correct's
candidates and its judging) run on the engine's replicas. The other stages (filter,
fine-tune, evaluate) are the base toolkit's. The stages share one engine, opened when the
first of them needs it and closed when the run ends (Toolkit.close): `run --engine ray`
without an address starts one Ray cluster for the whole command, not one per stage. Each stage's outputs equal the local
runner's row for row, and a rerun resumes the same way: finished stages from state.json,
finished rows from the journal (score) or the replicas' call cache (candidates, judge).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.engines.base import BackendSpec, Engine, EngineConfig, backend_spec
from clearft.engines.options import engine_config
from clearft.pipeline.config import RunConfig
from clearft.pipeline.toolkit import StageModel, Toolkit, crossfit_score, run_score_config


def stage_spec(model: StageModel) -> BackendSpec:
    """The recipe the replicas open a stage's model from."""
    return backend_spec(model.name, model.cache, model.options)


class SharedEngine:
    """One engine for every stage of a command: made on first use, closed once."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._engine: Engine | None = None
        self.opened = 0  # engines made (one per command; tests check it)

    def get(self) -> Engine:
        if self._engine is None:
            from clearft.engines import make_engine

            self._engine = make_engine(self.config)
            self.opened += 1
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            engine.close()


def toolkit_on_engine(engine: EngineConfig, base: Toolkit | None = None) -> Toolkit:
    """`base` (default: the pipeline's own toolkit) with its model stages on `engine`, all
    of them on one engine that the toolkit's `close` releases."""
    shared = SharedEngine(engine)

    def log(config: RunConfig) -> Callable[[str], None] | None:
        return (lambda msg: print(msg, file=sys.stderr)) if config.progress else None

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
        from clearft.correction.on_engine import write_candidates_on_engine

        n, described = write_candidates_on_engine(
            to_correct, output, stage_spec(model), config.correct, shared.get(), routes=model.routes,
            data_options=config.data_options, progress=log(config))
        return {"rows": n, "candidate_backend": described}

    def correct(candidates: Path, corrected: Path, uncorrected: Path, judge: StageModel, context: list[Any],
                config: RunConfig) -> dict[str, Any]:
        from clearft.correction.on_engine import correct_file_on_engine

        summary = correct_file_on_engine(
            candidates, corrected, stage_spec(judge), config.correct, shared.get(), uncorrected=uncorrected,
            data_options=config.data_options, context=context, progress=log(config))
        return summary.to_dict()

    base = base or Toolkit()
    base_close = base.close

    def close() -> None:
        try:
            shared.close()
        finally:
            base_close()

    return replace(base, score=score, candidates=candidates, correct=correct, close=close)


def engine_toolkit(args: argparse.Namespace) -> Toolkit | None:
    """For `clearft run`: a pipeline Toolkit whose model stages (score, Auto-Correct's
    candidates and judge) run on the chosen engine (None for the local engine: the
    pipeline's own toolkit)."""
    if args.engine == "local":
        return None
    return toolkit_on_engine(engine_config(args, progress=not args.no_progress))
