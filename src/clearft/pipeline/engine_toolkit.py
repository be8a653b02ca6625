"""`clearft run` on an engine: a pipeline Toolkit whose model stages (score, Auto-Correct's
candidates and its judging) run on the engine's replicas. The other stages (filter,
fine-tune, evaluate) are the base toolkit's. Each stage's outputs equal the local
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
from clearft.engines.base import BackendSpec, EngineConfig, backend_spec
from clearft.engines.options import engine_config
from clearft.pipeline.config import RunConfig
from clearft.pipeline.toolkit import StageModel, Toolkit, crossfit_score, run_score_config


def stage_spec(model: StageModel) -> BackendSpec:
    """The recipe the replicas open a stage's model from."""
    return backend_spec(model.name, model.cache, model.options)


def toolkit_on_engine(engine: EngineConfig, base: Toolkit | None = None) -> Toolkit:
    """`base` (default: the pipeline's own toolkit) with its model stages on `engine`."""
    from clearft.engines import make_engine

    def log(config: RunConfig) -> Callable[[str], None] | None:
        return (lambda msg: print(msg, file=sys.stderr)) if config.progress else None

    def score(input_path: Path, output: Path, backend: Backend, config: RunConfig) -> dict[str, Any]:
        from clearft.scoring import score_file

        score_config = run_score_config(config)
        if config.cross_fit:  # each fold (fine-tune + scoring) on a replica
            with make_engine(engine) as eng:
                return crossfit_score(input_path, output, backend, config, score_config, engine=eng)
        spec = backend_spec(config.backend, config.cache, config.backend_options)
        data = {k: v for k, v in config.data_options.items() if v is not None}
        with make_engine(engine) as eng:
            summary = score_file(input_path, output, spec, score_config, engine=eng,
                                 progress=config.progress, **data)
        return {**asdict(summary), "model_id": backend.model_id}

    def candidates(to_correct: Path, output: Path, model: StageModel, config: RunConfig) -> dict[str, Any]:
        from clearft.correction.on_engine import write_candidates_on_engine

        with make_engine(engine) as eng:
            n, described = write_candidates_on_engine(
                to_correct, output, stage_spec(model), config.correct, eng, routes=model.routes,
                data_options=config.data_options, progress=log(config))
        return {"rows": n, "candidate_backend": described}

    def correct(candidates: Path, corrected: Path, uncorrected: Path, judge: StageModel, context: list[Any],
                config: RunConfig) -> dict[str, Any]:
        from clearft.correction.on_engine import correct_file_on_engine

        with make_engine(engine) as eng:
            summary = correct_file_on_engine(
                candidates, corrected, stage_spec(judge), config.correct, eng, uncorrected=uncorrected,
                data_options=config.data_options, context=context, progress=log(config))
        return summary.to_dict()

    return replace(base or Toolkit(), score=score, candidates=candidates, correct=correct)


def engine_toolkit(args: argparse.Namespace) -> Toolkit | None:
    """For `clearft run`: a pipeline Toolkit whose model stages (score, Auto-Correct's
    candidates and judge) run on the chosen engine (None for the local engine: the
    pipeline's own toolkit)."""
    if args.engine == "local":
        return None
    return toolkit_on_engine(engine_config(args, progress=not args.no_progress))
