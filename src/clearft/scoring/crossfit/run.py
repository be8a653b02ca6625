"""A whole cross-fit: crossfit_examples (folds, fold models, the embedding classifier's part,
combined) and crossfit_score_file (the same for `clearft score --cross-fit`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.engines.base import ChunkResult, Engine, run_chunks
from clearft.engines.local import LocalEngine
from clearft.errors import ClearftError
from clearft.scoring.config import ScoreConfig
from clearft.scoring.crossfit import models
from clearft.scoring.crossfit.config import METHOD, CrossFitConfig, Log
from clearft.scoring.crossfit.estimate import estimate_crossfit, estimate_lines
from clearft.scoring.crossfit.folds import assign_folds, label_set
from clearft.scoring.crossfit.models import OpenModel, Train
from clearft.scoring.crossfit.step import FoldJob, FoldStep
from clearft.scoring.crossfit.store import scores_path, write_folds
from clearft.scoring.crossfit.target import combine
from clearft.scoring.result import ScoreResult, Usage


def embedding_part(examples: list[Example], labels: list[str] | None, config: ScoreConfig,
                   log: Log) -> list[dict[str, Any]] | None:
    """Per row, the embedding classifier's out-of-fold probability of the given label and its
    prediction; None where the targets are not labels (nothing to classify)."""
    if labels is None:
        log("cross-fit: targets are not labels, so the embedding-classifier part is left out")
        return None
    from clearft.errors import MissingDependencyError
    from clearft.scoring.label_model import score_labels

    try:
        scored = score_labels(examples, config)
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"{exc} (or leave the part out: --cross-fit-parts label-prob)") from exc
    return [{"embedding_classifier": r.confidence, "embedding_predicted_label": r.evidence["predicted_label"]}
            for r in scored]


def with_embedding(result: ScoreResult, embedding: dict[str, Any] | None, cf: CrossFitConfig) -> ScoreResult:
    """The fold's result with the embedding part added and the parts combined again."""
    ev = {**result.evidence, **(embedding or {})}
    confidence = combine({"label-prob": ev.get("label_prob"), "bsdetector": ev.get("bsdetector"),
                          "embedding-classifier": ev.get("embedding_classifier", ev.get("embedding_knn"))}, cf.label_weight)
    return replace(result, confidence=confidence, evidence=ev,
                   error=result.error if confidence is None else None)


def crossfit_examples(
    examples: Sequence[Example],
    work_dir: str | Path,
    cf: CrossFitConfig,
    config: ScoreConfig,
    *,
    train: Train | None = None,
    open_model: OpenModel | None = None,
    usage: Usage | None = None,
    log: Log | None = None,
    engine: Engine | None = None,
) -> list[ScoreResult]:
    """Cross-fitted scores of `examples` (same order). Fold models and finished folds in
    `work_dir` are reused; `train` and `open_model` default to clearft's trainer and backends;
    `engine` (default: this process, fold after fold) runs the folds."""
    cf.validate()
    examples = list(examples)
    if len(examples) < cf.folds:
        raise ClearftError(f"--cross-fit {cf.folds} needs at least {cf.folds} rows, got {len(examples)}")
    work = Path(work_dir).resolve()  # replicas elsewhere must find the same folder
    work.mkdir(parents=True, exist_ok=True)
    usage = usage if usage is not None else Usage()
    log = log or (lambda _msg: None)
    labels = label_set([ex.response for ex in examples], cf.max_label_values)
    keys = [f"{ex.line}:{ex.id}" for ex in examples]
    folds = assign_folds(keys, [ex.response.strip() for ex in examples] if labels else None, cf.folds, cf.seed)
    write_folds(work, examples, folds, cf.folds)
    embedding = embedding_part(examples, labels, config, log) if "embedding-classifier" in cf.parts else None

    held_idx = [[i for i, f in enumerate(folds) if f == fold] for fold in range(cf.folds)]
    jobs = [FoldJob(fold, [examples[i] for i, f in enumerate(folds) if f != fold],
                    [examples[i] for i in held_idx[fold]]) for fold in range(cf.folds)]
    for job in jobs:
        log(f"cross-fit fold {job.fold + 1}/{cf.folds}: fine-tune on {len(job.train_rows)} rows, "
            f"score {len(job.held_out)}")
    step = FoldStep(work, cf, config, labels, train or models.default_trainer(cf.finetune),
                    open_model or models.default_opener())
    engine = engine or LocalEngine()
    by_row: dict[int, ScoreResult] = {}

    def finished(chunk: ChunkResult) -> None:
        job = jobs[chunk.index]
        (results, reused), = chunk.results
        usage.merge(chunk.usage)
        by_row.update(zip(held_idx[job.fold], results, strict=True))
        how = f"scores reused from {scores_path(work, job.fold, cf.folds)}" if reused else "scored"
        log(f"cross-fit fold {job.fold + 1}/{cf.folds}: {how}"
            + (f" ({chunk.worker})" if engine.name != "local" else ""))

    run_chunks(engine, step, [[job] for job in jobs], finished, log)
    return [with_embedding(by_row[i], embedding[i] if embedding else None, cf) for i in range(len(examples))]


def default_work_dir(output: str | Path) -> Path:
    return Path(f"{output}.crossfit")


def crossfit_score_file(
    input: str | Path,
    output: str | Path,
    cf: CrossFitConfig,
    config: ScoreConfig,
    *,
    work_dir: str | Path | None = None,
    train: Train | None = None,
    open_model: OpenModel | None = None,
    output_file_type: str | None = None,
    dry_run: bool = False,
    log: Log | None = None,
    engine: Engine | None = None,
    data_options: DataOptions | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Cross-fitted `clearft score`: every input record plus the score columns, written to
    `output`, settings to `<output>.meta.json`. Returns (summary or estimate, printable lines)."""
    import time

    from clearft.data import write_records
    from clearft.scoring.runfile import meta_path

    cf.validate()
    started = time.monotonic()
    ds = (data_options or DataOptions()).open(input)
    ds.validate()
    examples = list(ds)  # fold assignment and the label set need every row
    if dry_run:
        est = estimate_crossfit(examples, cf, config)
        return est, estimate_lines(est)
    usage = Usage()
    work = Path(work_dir) if work_dir else default_work_dir(output)
    results = crossfit_examples(examples, work, cf, config, train=train, open_model=open_model,
                                usage=usage, log=log, engine=engine)
    write_records(str(output), ({**ex.record, **r.columns()} for ex, r in zip(examples, results, strict=True)),
                  file_type=output_file_type)
    failed = sum(r.error is not None for r in results)
    summary = {"output": str(output), "method": METHOD, "rows": len(examples), "scored": len(examples) - failed,
               "failed": failed, "seconds": round(time.monotonic() - started, 1), "usage": asdict(usage),
               "work_dir": str(work), "engine": engine.name if engine else "local"}
    meta = {"input": str(input), "method": METHOD, "crossfit": cf.to_dict(), "config": config.to_dict(),
            "summary": summary}
    meta_path(output).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    lines = [f"scored {summary['scored']} of {len(examples)} rows with {METHOD} ({cf.folds} folds, "
             f"parts {', '.join(cf.parts)}; {failed} failed) in {summary['seconds']} s",
             f"  model calls: {usage.calls} backend calls, {usage.requests} requests; fold models in {work}",
             f"  wrote {output}"]
    return summary, lines
