"""FoldStep: one fold per item (fine-tune its model or find it finished, score its held-out
rows or find the fold's score file), a BatchStep so the folds run on any engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.data.example import Example
from clearft.engines.base import BatchStep
from clearft.scoring.config import ScoreConfig
from clearft.scoring.crossfit.config import METHOD, CrossFitConfig
from clearft.scoring.crossfit.folds import fold_dir
from clearft.scoring.crossfit.models import OpenModel, Train
from clearft.scoring.crossfit.store import (
    fold_fingerprint,
    load_fold_scores,
    save_fold_scores,
    scores_path,
)
from clearft.scoring.crossfit.target import (
    combine,
    normalises_over_labels,
    score_target_probability,
)
from clearft.scoring.result import ScoreResult, Usage


def score_fold(
    held_out: list[Example], backend: Backend, labels: list[str] | None, cf: CrossFitConfig,
    config: ScoreConfig, fold: int, usage: Usage, similarity: Any,
) -> list[ScoreResult]:
    probs: list[tuple[float | None, dict[str, Any]]] = [(None, {}) for _ in held_out]
    if "label-prob" in cf.parts:
        probs = []
        for start in range(0, len(held_out), config.batch_size):
            probs += score_target_probability(held_out[start:start + config.batch_size], backend, labels, usage,
                                              normalise=normalises_over_labels(labels, cf))
    bsd: list[ScoreResult | None] = [None] * len(held_out)
    if "bsdetector" in cf.parts:
        from clearft.scoring.engine import score_examples

        bsd = []
        for start in range(0, len(held_out), config.batch_size):
            bsd += score_examples(held_out[start:start + config.batch_size], backend, config, usage,
                                  similarity, method="bsdetector")
    out = []
    for ex, (prob, evidence), b in zip(held_out, probs, bsd, strict=True):
        b_conf = b.confidence if b is not None else None
        errors = [e for e in (evidence.get("error"), b.error if b is not None else None) if e]
        ev = {"fold": fold, "label_prob": prob, "bsdetector": b_conf, **evidence,
              "unknown": int((b.evidence if b is not None else {}).get("unknown", 0) or 0)}
        if b is not None:
            ev["bsdetector_evidence"] = b.evidence
        out.append(ScoreResult(
            ex.id, combine({"label-prob": prob, "bsdetector": b_conf}, cf.label_weight),
            consistency=b.consistency if b is not None else None,
            self_reflection=b.self_reflection if b is not None else None, method=METHOD, evidence=ev,
            error="; ".join(errors) if errors else None,
        ))
    return out


@dataclass(frozen=True)
class FoldJob:
    fold: int
    train_rows: list[Example]
    held_out: list[Example]


class FoldStep(BatchStep):
    """One fold per item: fine-tune its model (or find it finished), score its held-out rows
    (or find the fold's score file), write that file. A BatchStep, so the folds run on any
    engine: one after another here, or side by side on Ray replicas that each reserve the
    CPUs/GPUs a fine-tune needs. `work` must be storage every replica shares."""

    chunks_in_flight_per_replica = 1  # one fold per replica at a time: side by side, not queued

    def __init__(self, work: Path, cf: CrossFitConfig, config: ScoreConfig, labels: list[str] | None,
                 train: Train, open_model: OpenModel) -> None:
        self.work, self.cf, self.config, self.labels = work, cf, config, labels
        self.train, self.open_model = train, open_model
        self._similarity: Any = None

    def setup(self) -> None:
        if "bsdetector" in self.cf.parts and self.config.k:
            from clearft.scoring.similarity import get_similarity

            self._similarity = get_similarity(self.config.similarity, self.config.nli_model)

    def run(self, items: list[FoldJob], usage: Usage) -> list[tuple[list[ScoreResult], bool]]:
        return [self.run_fold(job, usage) for job in items]

    def run_fold(self, job: FoldJob, usage: Usage) -> tuple[list[ScoreResult], bool]:
        """(the fold's scores, whether they were reused from its score file)."""
        model_dir = self.train(job.train_rows, fold_dir(self.work, job.fold, self.cf.folds))
        fp = fold_fingerprint(self.cf, self.config, model_dir, job.held_out)
        path = scores_path(self.work, job.fold, self.cf.folds)
        results = load_fold_scores(path, fp)
        if results is not None:
            return results, True
        backend = self.open_model(model_dir)
        try:
            results = score_fold(job.held_out, backend, self.labels, self.cf, self.config, job.fold, usage,
                                 self._similarity)
        finally:
            backend.close()
        save_fold_scores(path, fp, results)
        return results, False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_similarity": None}  # a replica loads its own
