"""Cross-fitted confidence (GitHub issue 8): score each row with a model that never saw it.

Why: the small default model does not know most tasks zero-shot (BSDetector at chance on
FPB-30, SPEC 5). A model fine-tuned on data with 30% wrong targets still predicts the true
target far more often than the noise does, but only for rows it did not train on (it
memorises the wrong targets of its own training rows). So, as in confident learning:

1. split the rows into K folds (stratified by target when the targets are labels);
2. for each fold, fine-tune with clearft's own trainer on the other K-1 folds;
3. score the held-out fold with that fold model: the probability of the given target
   ("label-prob": normalised over the label set for labels -- or, above
   `max_normalised_labels` labels, the given label's own probability --, per-token for
   free text) and,
   if asked, BSDetector as specified (consistency + self-reflection) by the fold model;
4. for label targets, add the embedding classifier's out-of-fold probability of the given
   label ("embedding-classifier": a second view that never saw the row, seconds to compute);
5. combine: confidence = w * label-prob + (1 - w) * the mean of the other parts present.

Resumable like every other stage: fold models are finetune() folders with a DONE marker
under WORK_DIR/fold-<i>-of-<K>, and each fold's scores are written to
WORK_DIR/fold-<i>-of-<K>.scores.jsonl once finished (reused when the settings match).
WORK_DIR/folds.json maps every row id to its fold, so Auto-Correct can ask a row's own fold
model (which never saw that row's target) for a candidate.

The package: config (CrossFitConfig), folds (fold assignment, label set), target (the fold
model's target probability, combining the parts), models (training and opening fold models),
store (fold scores and folds.json), step (FoldStep), run (crossfit_examples,
crossfit_score_file), routing (fold models for Auto-Correct), estimate (cost before a run).
"""

from __future__ import annotations

from clearft.scoring.crossfit.config import (
    DEFAULT_LABEL_WEIGHT,
    DEFAULT_PARTS,
    FOLD_PARTS,
    FOLDS_FILE,
    METHOD,
    PARTS,
    CrossFitConfig,
)
from clearft.scoring.crossfit.estimate import estimate_crossfit, estimate_lines
from clearft.scoring.crossfit.folds import assign_folds, fold_dir, label_set
from clearft.scoring.crossfit.models import OpenModel, Train, default_opener, default_trainer
from clearft.scoring.crossfit.routing import (
    FoldRoutingBackend,
    fold_candidates,
    fold_routes,
    messages_key,
)
from clearft.scoring.crossfit.run import (
    crossfit_examples,
    crossfit_score_file,
    default_work_dir,
    embedding_part,
    with_embedding,
)
from clearft.scoring.crossfit.step import FoldJob, FoldStep
from clearft.scoring.crossfit.store import read_folds
from clearft.scoring.crossfit.target import (
    combine,
    normalised_label_probs,
    normalises_over_labels,
    per_token_probability,
    score_target_probability,
)

__all__ = [
    "DEFAULT_LABEL_WEIGHT", "DEFAULT_PARTS", "FOLDS_FILE", "FOLD_PARTS", "METHOD", "PARTS",
    "CrossFitConfig", "FoldJob", "FoldRoutingBackend", "FoldStep", "OpenModel", "Train",
    "assign_folds", "combine", "crossfit_examples", "crossfit_score_file", "default_opener",
    "default_trainer", "default_work_dir", "embedding_part", "estimate_crossfit", "estimate_lines",
    "fold_candidates", "fold_dir", "fold_routes", "label_set", "messages_key",
    "normalised_label_probs", "normalises_over_labels", "per_token_probability", "read_folds",
    "score_target_probability", "with_embedding",
]
