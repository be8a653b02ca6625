"""Settings of a scoring run, and presets from cheap to thorough.

Precedence: explicit options (CLI flags, keyword arguments) > the preset > these defaults.
A ``ScoreConfig`` is recorded whole in ``<output>.meta.json`` so a score can be traced to
the settings that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from clearft.errors import ClearftError
from clearft.scoring.label_space import MAX_VALUES

# Methods that need the whole dataset at once (cross-validated), not row batches.
DATASET_METHODS = ("embedding-classifier",)
# Methods that score row by row through an LLM backend.
ROW_METHODS = ("bsdetector", "consistency", "self-reflection", "perplexity", "ifd", "judge-rating")
METHODS = ("auto", *ROW_METHODS, *DATASET_METHODS)
# Old names still accepted (files and scripts written before the rename keep working):
# "embedding-knn" was named for a k-NN, but the classifier has been a logistic regression.
METHOD_ALIASES = {"embedding-knn": "embedding-classifier"}
SIMILARITIES = ("embedding", "nli", "exact", "token-f1")
# What a consistency sample is compared with the target by: its parsed answer (the paper, whose
# targets are short answers), its whole reply, or "auto": the whole reply when the target is
# long (a worked solution), where an answer line and a whole solution are not alike.
COMPARES = ("auto", "answer", "reply")


@dataclass(frozen=True)
class ScoreConfig:
    method: str = "auto"  # "auto": embedding-classifier on labels, else the backend's free-text default (engine.free_text_method)
    preset: str = "medium"
    # BSDetector (SPEC section 1): C = beta * O + (1 - beta) * S, o_i = alpha * s_i + (1 - alpha) * r_i
    alpha: float = 0.8
    beta: float = 0.7
    k: int = 5  # sampled answers for observed consistency
    rounds: int = 2  # self-reflection rounds
    similarity: str = "embedding"
    # See COMPARES. GSM8K-20, preset medium: consistency 0.998 AUROC comparing whole replies,
    # 0.938 comparing parsed answers (bench/results/scoring.md, ablation).
    compare: str = "auto"
    nli_model: str | None = None  # a Hugging Face NLI cross-encoder folder, for similarity="nli"
    temperature: float = 1.0  # of the consistency samples (paper: 1.0)
    sample_max_tokens: int = 64  # the CoT template makes answers long; measured in bench/detect.py
    reflection_explain_tokens: int = 0  # tokens of explanation generated after the verdict letter
    use_logprobs: bool = True  # read P(A/B/C) from top_logprobs when the backend offers them
    max_retries: int = 2  # re-asks for outputs that do not parse; then "unknown"
    seed: int = 0
    batch_size: int = 16  # rows whose requests go to the backend in one call
    # embedding-classifier
    classifier: str = "logreg"  # "logreg" or "knn" (measured in bench/detect.py)
    folds: int = 5
    knn_neighbors: int = 10
    max_label_values: int = MAX_VALUES  # "auto": targets are labels if they take at most this many values
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ClearftError(f"unknown scoring method '{self.method}'; choose one of: {', '.join(METHODS)}")
        if self.similarity not in SIMILARITIES:
            raise ClearftError(
                f"unknown similarity '{self.similarity}'; choose one of: {', '.join(SIMILARITIES)}"
            )
        if self.compare not in COMPARES:
            raise ClearftError(f"unknown compare '{self.compare}'; choose one of: {', '.join(COMPARES)}")
        if self.similarity == "nli" and not self.nli_model and self.method in ("auto", "bsdetector", "consistency"):
            raise ClearftError("similarity 'nli' needs --nli-model FOLDER (a Hugging Face NLI cross-encoder)")
        for name in ("alpha", "beta"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ClearftError(f"{name} must be in [0, 1], got {v}")
        if self.k < 0 or self.rounds < 0 or self.batch_size < 1 or self.max_retries < 0:
            raise ClearftError("k, rounds and max_retries must be >= 0 and batch_size >= 1")
        if self.method == "bsdetector" and self.k == 0 and self.rounds == 0:
            raise ClearftError("bsdetector needs k > 0 or rounds > 0")
        if self.classifier not in ("logreg", "knn"):
            raise ClearftError(f"unknown classifier '{self.classifier}'; choose logreg or knn")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# In the spirit of Cleanlab TLM's base/low/medium/high/best. "medium" is the paper's
# setting (k=5, two rounds) with answers cut short. The default by measurement: on 60 GSM8K-20
# rows (bench/results/scoring.md, preset sweep) AUROC base 0.342, low 0.969, medium 0.988,
# high 0.976 at twice medium's time.
PRESETS: dict[str, dict[str, Any]] = {
    "base": {"k": 0, "rounds": 1, "beta": 0.0},  # self-reflection only: one forward pass a row
    "low": {"k": 3, "rounds": 1, "sample_max_tokens": 48},
    "medium": {"k": 5, "rounds": 2, "sample_max_tokens": 64},
    "high": {"k": 5, "rounds": 2, "sample_max_tokens": 128, "reflection_explain_tokens": 48},
    "best": {"k": 10, "rounds": 2, "sample_max_tokens": 256, "reflection_explain_tokens": 96},
}
DEFAULT_PRESET = "medium"


def make_config(preset: str = DEFAULT_PRESET, **overrides: Any) -> ScoreConfig:
    """The preset's settings, then every override that is not None."""
    if preset not in PRESETS:
        raise ClearftError(f"unknown preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    values: dict[str, Any] = {"preset": preset, **PRESETS[preset]}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "method" in values:
        values["method"] = METHOD_ALIASES.get(values["method"], values["method"])
    config = replace(ScoreConfig(), **values)
    config.validate()
    return config
