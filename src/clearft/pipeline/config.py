"""Settings of a whole CLEAR run (`clearft run`); recorded in state.json and summary.json.

A rerun in the same RUN_DIR must use the same settings (state.json checks it), so that its
outputs equal an uninterrupted run's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from clearft.correction.config import CorrectConfig
from clearft.data.options import DataOptions

# Settings that do not change any output (left out of the resume check).
COSMETIC = ("progress",)
# Settings that add stages after the others without changing theirs (left out too; the
# review stage records its decisions file itself).
CONTINUATIONS = ("review",)


@dataclass
class RunConfig:
    seed: int = 0
    # The base model: scores the data and judges corrections (SPEC 2.1, 2.4).
    backend: str = "llamacpp"
    backend_options: dict[str, Any] = field(default_factory=dict)
    # Serves the fine-tuned models (merged Hugging Face folders) for candidates.
    candidate_backend: str = "transformers"
    # Backend for evaluating fine-tuned models; the untuned model is evaluated as "default".
    eval_backend: str | None = None
    cache: str | None = None  # None: RUN_DIR/calls.sqlite; "off": no call cache
    data_options: DataOptions = field(default_factory=DataOptions)
    # score + filter
    method: str | None = None
    preset: str | None = None
    score_options: dict[str, Any] = field(default_factory=dict)
    fraction: float | None = None
    threshold: float | None = None
    auto_threshold: bool = False
    # Cross-fitted scoring (issue 8): K > 1 fine-tunes K fold models (RUN_DIR/crossfit/) and
    # scores each row by the model that never saw it; Auto-Correct then asks those fold
    # models for candidates of the kept rows that M1 trained on. 0: score with the base model.
    cross_fit: int = 0
    cross_fit_parts: list[str] = field(default_factory=lambda: ["label-prob", "embedding-classifier"])
    # CrossFitConfig.from_options' other settings (label_weight, max_normalised_labels), as
    # `score --cross-fit` takes them; empty: its defaults
    cross_fit_options: dict[str, Any] = field(default_factory=dict)
    # fine-tune (FinetuneConfig field overrides) or an external trainer command
    finetune: dict[str, Any] = field(default_factory=dict)
    finetune_command: str | None = None
    # The model fine-tunes start from: None is the model being curated (backend_options'
    # "model", a GGUF file or Hugging Face folder; the embedded model by default); set, it
    # is the explicit choice of another base (--base-model).
    base_model: str | None = None
    # correct
    correct: CorrectConfig = field(default_factory=CorrectConfig)
    correct_all: bool = False
    iterations: int = 1
    # evaluate
    baseline_full: bool = False
    eval_untuned: bool = True
    eval_limit: int | None = None
    metric: str = "auto"
    progress: bool = True
    # `--review DECISIONS`: continue a run with a reviewer's decisions (review, fine-tune,
    # evaluate). Not part of the resume check: it adds stages after the others.
    review: str | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("iterations must be >= 1")
        self.correct.seed = self.seed

    def to_dict(self) -> dict[str, Any]:
        # data options as given (no unset ones): the settings runs recorded before they were
        # an object, so those runs keep resuming
        return {**asdict(self), "data_options": self.data_options.to_dict()}

    def fingerprint(self) -> dict[str, Any]:
        d = self.to_dict()
        for key in (*COSMETIC, *CONTINUATIONS):
            d.pop(key, None)
        if not self.cross_fit:  # runs made before cross-fitting existed keep resuming
            d.pop("cross_fit", None)
            d.pop("cross_fit_parts", None)
        if not self.cross_fit or not self.cross_fit_options:  # nor those made before its options
            d.pop("cross_fit_options", None)
        return without_batch_size(d)


def without_batch_size(settings: dict[str, Any]) -> dict[str, Any]:
    """Rows per model call change no output: a rerun may use another --batch-size (and a run
    recorded when the settings still held it resumes)."""
    d = dict(settings)
    for part in ("score_options", "correct"):
        if isinstance(d.get(part), dict):
            d[part] = {k: v for k, v in d[part].items() if k != "batch_size"}
    return d
