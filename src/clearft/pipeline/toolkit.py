"""The stage functions the loop calls, gathered in one object so tests can swap in fakes.

The defaults call the public APIs of the other packages (scoring, filtering, training,
evaluation, backends); each imports its heavy libraries only when called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearft.backends.base import Backend
from clearft.pipeline.config import RunConfig

if TYPE_CHECKING:
    from clearft.engines.base import BackendSpec

OpenBackendFn = Callable[..., Backend]


@dataclass
class StageModel:
    """A stage's model, two ways. `backend()` opens it in this process on first use (the
    local runner; the loop closes it); `name`, `options` and `cache` are the recipe an
    engine's replicas open it from instead, so the driver never loads it.

    `routes` (cross-fit): prompt -> the fold model that answers it, opened with the same
    recipe and `model` set to that folder; every other prompt goes to the model itself."""

    name: str
    options: dict[str, Any]
    cache: str | None
    open_backend: OpenBackendFn
    routes: dict[str, Path] = field(default_factory=dict)
    _backend: Backend | None = field(default=None, init=False, repr=False)

    def backend(self) -> Backend:
        if self._backend is None:
            model = self.open_backend(self.name, cache=self.cache, **self.options)
            if self.routes:
                from clearft.scoring.crossfit import FoldRoutingBackend

                model = FoldRoutingBackend(model, self.routes, lambda folder: self.open_backend(
                    self.name, cache=self.cache, **{**self.options, "model": str(folder)}))
            self._backend = model
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


ScoreFn = Callable[[Path, Path, Backend, RunConfig], dict[str, Any]]
FilterFn = Callable[[Path, Path, Path, RunConfig], dict[str, Any]]
FinetuneFn = Callable[[Path, Path, RunConfig], Path]
# (rows to correct, candidates file, the fine-tuned model writing them, config)
CandidatesFn = Callable[[Path, Path, StageModel, RunConfig], dict[str, Any]]
# (candidates file, corrected file, uncorrected file, the judge, every example of the dataset, config)
CorrectFn = Callable[[Path, Path, Path, StageModel, list[Any], RunConfig], dict[str, Any]]
EvaluateFn = Callable[[str, Path, RunConfig], dict[str, Any]]


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return {"value": obj}


def finetune_base_of(config: RunConfig) -> str | None:
    """The model every fine-tune of the run starts from: --base-model if given, else the
    model being curated (--backend/--model), else the embedded one (None). An absolute path:
    on an engine, fold fine-tunes run in other processes, maybe other machines."""
    from clearft.training.base_model import finetune_base

    base = finetune_base(config.backend, config.backend_options.get("model"), config.base_model)
    if base and base != "default" and Path(base).exists():
        base = str(Path(base).resolve())
    return base


def check_finetune_base(config: RunConfig) -> None:
    """A one-line error before the run starts if the run's model cannot be fine-tuned here."""
    finetune_base_of(config)


def run_score_config(config: RunConfig) -> Any:
    """The ScoreConfig a run's score stage uses, wherever it runs."""
    from clearft.scoring import make_config

    return make_config(config.preset or "medium", method=config.method, seed=config.seed, **config.score_options)


def run_crossfit_config(config: RunConfig) -> Any:
    """The CrossFitConfig of a run's `--cross-fit` (its fold fine-tunes: the run's
    fine-tuning settings and seed), for the score stage and its estimate alike."""
    from clearft.scoring.crossfit import CrossFitConfig

    values = {"seed": config.seed, **config.finetune}
    if not config.progress:
        values.setdefault("progress", False)
    return CrossFitConfig.from_options(config.cross_fit, config.cross_fit_parts, seed=config.seed, finetune=values,
                                       **config.cross_fit_options)


def default_score(input_path: Path, output: Path, backend: Backend, config: RunConfig) -> dict[str, Any]:
    from clearft.scoring import score_file

    score_config = run_score_config(config)
    if config.cross_fit:
        return crossfit_score(input_path, output, backend, config, score_config)
    summary = score_file(str(input_path), str(output), backend, score_config,
                         progress=config.progress, data_options=config.data_options)
    return {**_as_dict(summary), "model_id": backend.model_id}


def crossfit_work_dir(output: Path) -> Path:
    """Fold models and fold scores live beside the scored file: RUN_DIR/crossfit/."""
    return output.parent / "crossfit"


def crossfit_score(input_path: Path, output: Path, backend: Backend, config: RunConfig,
                   score_config: Any, engine: Any = None) -> dict[str, Any]:
    """Cross-fitted scoring; `engine` (default: this process) runs the folds."""
    from clearft.engines.base import backend_spec
    from clearft.scoring.crossfit import crossfit_score_file
    from clearft.scoring.crossfit.models import default_opener, default_trainer

    cf = run_crossfit_config(config)
    summary, _ = crossfit_score_file(
        input_path, output, cf, score_config, work_dir=crossfit_work_dir(output),
        train=default_trainer(cf.finetune, finetune_base_of(config)),
        open_model=default_opener(cache=backend_spec(None, config.cache, {}).cache),
        engine=engine, data_options=config.data_options)
    return {**summary, "model_id": backend.model_id}


def default_filter(scored: Path, kept: Path, dropped: Path, config: RunConfig) -> dict[str, Any]:
    from clearft.filtering import filter_file

    fraction = config.fraction
    if fraction is None and config.threshold is None and not config.auto_threshold:
        fraction = 0.5  # the paper drops the lower half
    summary = filter_file(str(scored), str(kept), threshold=config.threshold, fraction=fraction,
                          dropped_path=str(dropped))
    return _as_dict(summary)


def default_finetune(data: Path, out_dir: Path, config: RunConfig) -> Path:
    from clearft.training import FinetuneConfig, finetune, finetune_external

    if config.finetune_command:
        return Path(finetune_external(config.finetune_command, str(data), str(out_dir)))
    values = {"seed": config.seed, **config.finetune}
    if not config.progress:
        values.setdefault("progress", False)
    ft = FinetuneConfig.from_dict(values)
    return Path(finetune(str(data), str(out_dir), ft, base_model=finetune_base_of(config),
                         data_options=config.data_options))


def stage_spec(model: StageModel) -> BackendSpec:
    """The recipe an engine's replicas open a stage's model from."""
    from clearft.engines.base import backend_spec

    return backend_spec(model.name, model.cache, model.options)


def _stage_log(config: RunConfig) -> Callable[[str], None] | None:
    """An engine's pass messages (the local engine shows progress bars instead)."""
    return (lambda msg: print(msg, file=sys.stderr)) if config.progress else None


def default_candidates(to_correct: Path, output: Path, model: StageModel, config: RunConfig,
                       engine: Any = None) -> dict[str, Any]:
    """Candidates as an engine step (correction/on_engine.py): on `engine`'s replicas, which
    open the model from its recipe (and the cross-fit's fold models from its routes), or, by
    default, on the local engine with the model opened here (which routes by itself)."""
    from clearft.correction.on_engine import write_candidates_on_engine
    from clearft.engines.local import in_process

    if engine is None:
        n, described = write_candidates_on_engine(to_correct, output, model.backend(), config.correct,
                                                  in_process(config.progress), data_options=config.data_options)
    else:
        n, described = write_candidates_on_engine(
            to_correct, output, stage_spec(model), config.correct, engine, routes=model.routes,
            data_options=config.data_options, progress=_stage_log(config))
    return {"rows": n, "candidate_backend": described}


def default_correct(candidates: Path, corrected: Path, uncorrected: Path, judge: StageModel,
                    context: list[Any], config: RunConfig, engine: Any = None) -> dict[str, Any]:
    """Auto-Correct's judging as an engine step: on `engine`'s replicas, or by default on the
    local engine with the judge opened here."""
    from clearft.correction.correct import uses_evidence
    from clearft.correction.on_engine import correct_file_on_engine
    from clearft.engines.local import in_process

    source: Any = None  # the evidence judge asks no model: no judge is opened for it
    if not uses_evidence(config.correct.judge, context):
        source = judge.backend() if engine is None else stage_spec(judge)
    summary = correct_file_on_engine(
        candidates, corrected, source, config.correct, engine or in_process(config.progress),
        uncorrected=uncorrected, data_options=config.data_options, context=context,
        progress=None if engine is None else _stage_log(config))
    return summary.to_dict()


def untuned_reference(config: RunConfig) -> str:
    """The model before fine-tuning, served like the fine-tuned ones (same weights the
    trainer starts from, same backend), so the comparison is like for like."""
    from clearft.training import ensure_base_model

    return str(ensure_base_model(finetune_base_of(config)))


def default_evaluate(model: str, test: Path, config: RunConfig, engine: Any = None) -> dict[str, Any]:
    """The evaluation step, on `engine` (default: the local engine, with the model opened here)."""
    from clearft.evaluation import evaluate

    if model == "default":
        model = untuned_reference(config)
    # A bad test record is an error, never skipped: accuracy must be over the whole test set.
    options = replace(config.data_options, on_error=None)
    result = evaluate(model, str(test), backend=config.eval_backend, metric=config.metric,
                      limit=config.eval_limit, cache=config.cache, progress=config.progress, data_options=options,
                      engine=engine)
    return {"metric": result.metric, "accuracy": result.accuracy, "n": result.n, "model": model,
            "unparsed": getattr(result, "unparsed", None), "errors": getattr(result, "errors", None),
            "rows": result.rows}


def default_open_backend(name: str, cache: str | None = None, **options: Any) -> Backend:
    from clearft.backends.cache import open_backend

    return open_backend(name, cache=cache, **options)


def _nothing_to_close() -> None:
    return None


@dataclass
class Toolkit:
    score: ScoreFn = default_score
    filter: FilterFn = default_filter
    finetune: FinetuneFn = default_finetune
    evaluate: EvaluateFn = default_evaluate
    open_backend: OpenBackendFn = default_open_backend
    # The model stages (score, Auto-Correct's candidates and judge, evaluate) are engine steps
    # on the local engine; an engine's toolkit (engine_toolkit.py) runs them on its replicas.
    candidates: CandidatesFn = default_candidates
    correct: CorrectFn = default_correct
    # Releases what the stages share (an engine's toolkit: its one engine); the run calls it
    # once, at the end.
    close: Callable[[], None] = _nothing_to_close
