"""Fold models: how they are trained (clearft's own fine-tune, in training/) and opened.

crossfit_examples and fold_candidates look these defaults up here at call time, so tests can
replace them (monkeypatch this module's default_trainer / default_opener)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearft.backends.base import Backend
from clearft.data.example import Example

Train = Callable[[list[Example], Path], Path]  # (training rows, fold dir) -> model folder
OpenModel = Callable[[Path], Backend]  # model folder -> backend serving it


def default_trainer(finetune_overrides: dict[str, Any], base_model: str | Path | None = None) -> Train:
    """clearft's own trainer with the fold settings (resumable: DONE marker)."""
    def train(rows: list[Example], out_dir: Path) -> Path:
        from clearft.training import FinetuneConfig, finetune

        return finetune(rows, out_dir, FinetuneConfig.from_dict(finetune_overrides), base_model=base_model)

    return train


def default_opener(backend: str | None = None, cache: str | Path | None = None) -> OpenModel:
    """A fold model through llama.cpp when finetune wrote model.gguf, else transformers."""
    def open_model(model_dir: Path) -> Backend:
        from clearft.backends.cache import open_backend

        gguf = model_dir / "model.gguf"
        name = backend or ("llamacpp" if gguf.is_file() else "transformers")
        model = gguf if name == "llamacpp" and gguf.is_file() else model_dir
        return open_backend(name, cache=cache, model=str(model))

    return open_model
