"""Fine-tuning settings: one dataclass, every field overridable (CLI flags mirror the names).

Defaults are for small data on a small model: LoRA r=16 on every linear layer with a high
learning rate (1e-3) and an effective batch of 16 for one epoch is what separated clean from
noisy FPB labels here (SPEC 5: AUROC 0.943 cross-fitted). Larger models usually want a lower
learning rate (1e-4 to 2e-4).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class FinetuneConfig:
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # "all-linear" (PEFT's shortcut) or a list of module names, e.g. ["q_proj", "v_proj"].
    target_modules: str | list[str] = "all-linear"
    learning_rate: float = 1e-3
    epochs: float = 1.0
    batch_size: int = 8
    grad_accum: int = 2
    max_seq_len: int = 512
    seed: int = 0
    max_steps: int | None = None  # stops earlier than `epochs` when set (smoke tests, budgets)
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps
    warmup_ratio: float = 0.03
    lr_scheduler: str = "linear"
    weight_decay: float = 0.0
    # Recompute activations in the backward pass: less memory, about a third more compute.
    # TRL turns it on by default; small models on CPU train faster without it.
    gradient_checkpointing: bool = False
    # Batches of rows of similar length (transformers' length-grouped sampler): less padding,
    # so fewer tokens a step on rows of mixed length (padding to a batch's longest row added 28%
    # to short BANKING77 rows at batch 8, bench/results/demo.md), at the price of a less random
    # order: rows of one length can share a class.
    group_by_length: bool = False
    # Run the tokens all rows of a micro-batch begin with (template, shared instruction) once for
    # the batch, as a prompt cache the rows read (training/completion_loss.py; CPU and MPS, where
    # clearft computes the loss): the same loss and gradients for fewer tokens through the model.
    share_prefix: bool = True
    logging_steps: int = 1
    merge: bool = True  # also save base + adapter merged into a plain model folder
    # When the base is a GGUF (the embedded default), also write OUT/model.gguf so the default
    # llama.cpp backend serves the fine-tuned model: "q8_0" (default), "f16", "f32", or None.
    gguf: str | None = "q8_0"
    progress: bool = True  # a progress bar with the running loss
    extra: dict[str, Any] = field(default_factory=dict)  # passed on to TRL's SFTConfig as is

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FinetuneConfig:
        """Build from a dict (a config file, CLI overrides); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            from clearft.errors import ClearftError

            raise ClearftError(
                f"unknown fine-tuning setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        switches = {f.name for f in fields(cls) if isinstance(f.default, bool)}
        for name, value in values.items():
            if name in LIMITS and value is not None:
                _check_limit(name, value)
            if name in switches and not isinstance(value, bool):
                from clearft.errors import ClearftError

                raise ClearftError(f"fine-tuning setting {name}: must be true or false, got {value!r}")
        scheduler = values.get("lr_scheduler")
        if scheduler is not None and scheduler not in LR_SCHEDULERS:
            from clearft.errors import ClearftError

            raise ClearftError(f"fine-tuning setting lr_scheduler (--lr-scheduler): {scheduler!r} is not one "
                               f"of {', '.join(LR_SCHEDULERS)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint_dict(self) -> dict[str, Any]:
        """The settings that change the trained weights (not progress bars or merge flags)."""
        d = self.to_dict()
        # how the steps are computed, not what they compute: a model trained with or without
        # share_prefix is reused either way (with LoRA dropout the shared tokens draw one mask a
        # batch instead of one a row, and the masks drawn after them differ: the weights differ
        # as another dropout draw's would, not in what was trained)
        for cosmetic in ("progress", "logging_steps", "device", "gguf", "share_prefix"):
            d.pop(cosmetic)
        if not d["group_by_length"]:  # models trained before the setting existed stay reusable
            d.pop("group_by_length")
        return json.loads(json.dumps(d, sort_keys=True, default=str))


# Schedulers the built-in trainer takes without settings of their own (transformers' names).
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                 "constant_with_warmup", "inverse_sqrt")

# The numeric settings' ranges, checked by from_dict (what a --config file, --finetune-set or
# --cross-fit-set gives; the flags of the same name are checked when parsed):
# field -> (whole numbers only?, allowed, the range in words).
LIMITS: dict[str, tuple[bool, Callable[[float], bool], str]] = {
    "lora_r": (True, lambda v: v >= 1, "at least 1"),
    "lora_alpha": (True, lambda v: v >= 1, "at least 1"),
    "lora_dropout": (False, lambda v: 0 <= v <= 1, "between 0 and 1"),
    "learning_rate": (False, lambda v: v > 0, "above 0"),
    "epochs": (False, lambda v: v > 0, "above 0"),
    "batch_size": (True, lambda v: v >= 1, "at least 1"),
    "grad_accum": (True, lambda v: v >= 1, "at least 1"),
    "max_seq_len": (True, lambda v: v >= 1, "at least 1"),
    "seed": (True, lambda v: v >= 0, "0 or more"),
    "max_steps": (True, lambda v: v >= 1, "at least 1"),
    "warmup_ratio": (False, lambda v: 0 <= v <= 1, "between 0 and 1"),
    "weight_decay": (False, lambda v: v >= 0, "0 or more"),
    "logging_steps": (True, lambda v: v >= 1, "at least 1"),
}


def _check_limit(name: str, value: Any) -> None:
    from clearft.errors import ClearftError

    whole, allowed, what = LIMITS[name]
    number = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not allowed(value):
        kind = "a whole number " if whole else "a number "
        flag = {"batch_size": "--train-batch-size", "logging_steps": None}.get(name, "--" + name.replace("_", "-"))
        raise ClearftError(f"fine-tuning setting {name}{f' ({flag})' if flag else ''}: must be {kind}{what}, "
                           f"got {value!r}")
